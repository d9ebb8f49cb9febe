import { test } from 'node:test'
import assert from 'node:assert/strict'
import { BadRecordError, GridError } from '../util/errors.ts'
import { NetNode, generateSwarmKey, parsePeerAddress, parseSwarmKey, recordKey, verifyRecord } from './node.ts'

test('a record verifies only under the key of the peer that signed it', async () => {
  const [a, b] = await Promise.all([NetNode.create(), NetNode.create()])
  try {
    const payload = new TextEncoder().encode('{"hello":"swarm"}')
    const envelope = await a.signRecord(payload)
    assert.deepEqual(await verifyRecord(recordKey(a.peerId), envelope), payload)
    // b cannot pass off a's signed value as its own, nor a's key with b's signature
    await assert.rejects(verifyRecord(recordKey(b.peerId), envelope), BadRecordError)
    await assert.rejects(verifyRecord(recordKey(a.peerId), await b.signRecord(payload)), BadRecordError)
    const tampered = envelope.slice()
    tampered[6]! ^= 1
    await assert.rejects(verifyRecord(recordKey(a.peerId), tampered), BadRecordError)
    await assert.rejects(verifyRecord(recordKey(a.peerId), envelope.subarray(0, 3)), BadRecordError)
    await assert.rejects(verifyRecord(new TextEncoder().encode('/gridllm/not-a-peer'), envelope), BadRecordError)
  } finally {
    await Promise.all([a.stop(), b.stop()])
  }
})

test('swarm keys: generated ones parse, anything else is refused', () => {
  const key = generateSwarmKey()
  assert.match(new TextDecoder().decode(parseSwarmKey(key)), /^\/key\/swarm\/psk\/1\.0\.0\/\n\/base16\/\n[0-9a-f]{64}$/)
  assert.notDeepEqual(generateSwarmKey(), key)
  for (const bad of ['', 'nope', '/key/swarm/psk/1.0.0/\n/base16/\nabc']) {
    assert.throws(() => parseSwarmKey(new TextEncoder().encode(bad)), (err: unknown) => err instanceof GridError && err.code === 'SWARM_KEY')
  }
})

test('peer addresses need a /p2p/ part', () => {
  const id = '12D3KooWQzyHuWkhx2dCSuX5cDfuwFZaVWdV58h1VAcGvHCWDFxm'
  assert.deepEqual(parsePeerAddress(`/ip4/127.0.0.1/tcp/4001/p2p/${id}`), { id, addrs: ['/ip4/127.0.0.1/tcp/4001'] })
  assert.throws(() => parsePeerAddress('/ip4/127.0.0.1/tcp/4001'), GridError)
  assert.throws(() => parsePeerAddress('not an address'), GridError)
})

test('a listen address in use or not on this host is an INVALID_ARGUMENT that names it', async () => {
  const a = await NetNode.create({ listen: ['/ip4/127.0.0.1/tcp/0'] })
  try {
    const taken = a.addresses[0]!.replace(/\/p2p\/.*$/, '')
    await assert.rejects(NetNode.create({ listen: [taken] }), (err: unknown) =>
      err instanceof GridError && err.code === 'INVALID_ARGUMENT' && err.message === `cannot listen on ${taken}: the address is in use`)
  } finally {
    await a.stop()
  }
  await assert.rejects(NetNode.create({ listen: ['/ip4/192.0.2.1/tcp/0'] }), /this host has no such address/)
})

test('many peers on one host may connect at once (libp2p would refuse a 6th per second)', async () => {
  const a = await NetNode.create({ listen: ['/ip4/127.0.0.1/tcp/0'] })
  const others = await Promise.all(Array.from({ length: 10 }, async () => await NetNode.create()))
  try {
    const target = parsePeerAddress(a.addresses[0]!)
    const rtts = await Promise.all(others.map(async n => await n.ping(target)))
    assert.equal(rtts.length, 10)
  } finally {
    await Promise.all([a, ...others].map(async n => { await n.stop() }))
  }
})

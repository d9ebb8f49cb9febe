import { test } from 'node:test'
import assert from 'node:assert/strict'
import { NetNode, parsePeerAddress } from './node.ts'
import { RECORD_FETCH_TIMEOUT_MS, RECORD_PROTOCOL, VerifiedRecords, answerRecordRequests } from './records.ts'

const text = (s: string): Uint8Array => new TextEncoder().encode(s)
const str = (b: Uint8Array | undefined): string | undefined => b === undefined ? undefined : new TextDecoder().decode(b)
const addrsOf = (n: NetNode): string[] => parsePeerAddress(n.addresses[0]!).addrs as string[]

// none of these nodes shares a DHT: whatever a record lookup finds, it got from the peer itself
test('a record is fetched from its peer: the latest one put, none before the first', async () => {
  const a = await NetNode.create({ listen: ['/ip4/127.0.0.1/tcp/0'], dhtServer: true })
  const b = await NetNode.create()
  try {
    assert.equal(await b.getRecord(a.peerId, { addrs: addrsOf(a) }), undefined)
    await a.putRecord(text('{"v":1}')).catch(() => {}) // no DHT peers: the put itself fails, the record is still a's
    assert.equal(str(await b.getRecord(a.peerId, { addrs: addrsOf(a) })), '{"v":1}')
    await a.putRecord(text('{"v":2}')).catch(() => {})
    assert.equal(str(await b.getRecord(a.peerId, { addrs: addrsOf(a) })), '{"v":2}')
  } finally {
    await Promise.all([a.stop(), b.stop()])
  }
})

test('a peer that answers with a record it did not sign, or not at all, gives nothing, in bounded time', async () => {
  const [a, liar, mute, b] = await Promise.all([
    NetNode.create(), NetNode.create({ listen: ['/ip4/127.0.0.1/tcp/0'] }), NetNode.create({ listen: ['/ip4/127.0.0.1/tcp/0'] }), NetNode.create()])
  try {
    const stolen = await a.signRecord(text('{"v":1}'))
    await liar.unhandle(RECORD_PROTOCOL)
    await liar.handle(RECORD_PROTOCOL, channel => { answerRecordRequests(channel, () => stolen) })
    await mute.unhandle(RECORD_PROTOCOL)
    await mute.handle(RECORD_PROTOCOL, () => { /* reads the request and never answers */ })
    assert.equal(await b.getRecord(liar.peerId, { addrs: addrsOf(liar) }), undefined)
    const t0 = performance.now()
    assert.equal(await b.getRecord(mute.peerId, { addrs: addrsOf(mute) }), undefined)
    const waited = performance.now() - t0
    assert.ok(waited >= RECORD_FETCH_TIMEOUT_MS - 100 && waited < RECORD_FETCH_TIMEOUT_MS + 2000, `waited ${waited} ms`)
  } finally {
    await Promise.all([a, liar, mute, b].map(async n => { await n.stop() }))
  }
})

test('verified envelopes are remembered per peer by their exact bytes, the oldest peers forgotten first', () => {
  const seen = new VerifiedRecords(2)
  const e1 = text('envelope one')
  seen.set('p1', e1, text('payload one'))
  assert.deepEqual(seen.get('p1', text('envelope one')), text('payload one'))
  assert.equal(seen.get('p1', text('envelope 1ne')), undefined)
  assert.equal(seen.get('p2', e1), undefined)
  e1[0] = 0 // the caller's buffer changing does not change what was verified
  assert.deepEqual(seen.get('p1', text('envelope one')), text('payload one'))
  seen.set('p2', text('two'), text('2'))
  seen.set('p3', text('three'), text('3'))
  assert.equal(seen.get('p1', text('envelope one')), undefined)
  assert.deepEqual(seen.get('p3', text('three')), text('3'))
})

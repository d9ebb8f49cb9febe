/**
 * No single peer can lock a span server up: admission is atomic, sessions and KV cache are bounded
 * per peer, unfinished messages draw from a per-peer byte budget, idle sessions expire, and idle
 * connections make room for new clients.
 */
import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { encodeMessage, NetNode, RemoteSpanSession, parsePeerAddress } from '../../src/net/index.ts'
import { DIM, RawClient, type Rig, assertError, hidden, startRig, stepMsg, until } from './rig.ts'

describe('per-peer quotas', () => {
  let rig: Rig
  let alice: NetNode
  let bob: NetNode
  // 16-token sessions over 5 blocks of stories260K: 5 × 16 × 2 × 32 × 4 = 20,480 bytes each
  const SESSION_BYTES = 20_480

  before(async () => {
    rig = await startRig({ cacheBudgetBytes: 40 * SESSION_BYTES, maxSessions: 30, maxSessionsPerPeer: 24, peerCacheShare: 0.5, maxBufferedBytesPerPeer: 3 * 2 ** 20 })
    ;[alice, bob] = await Promise.all([NetNode.create({ bootstrap: [rig.addr] }), NetNode.create({ bootstrap: [rig.addr] })])
  })

  after(async () => {
    await Promise.all([alice?.stop(), bob?.stop()])
    await rig?.close()
  })

  test('1,000 opens in one write: no more than the limits are admitted, every other gets a prompt capacity error', async () => {
    assert.equal(rig.host.cacheBytes(0, 5, 16), SESSION_BYTES)
    const raw = await RawClient.open(alice, rig)
    await raw.burst(Array.from({ length: 1000 }, () => ({ header: raw.openMsg(rig) })))
    const replies = await raw.count(1000)
    assert.equal(replies.length, 1000)
    const opened = replies.filter(r => r.t === 'opened').length
    assert.equal(opened, 20, 'half the cache: 20 sessions of 20 KiB') // her share, below the session limits
    for (const r of replies) if (r.t !== 'opened') assert.ok(r.t === 'error' && (r.code === 'CACHE_BUDGET_EXCEEDED' || r.code === 'BUSY') && (r.retryAfterMs ?? 0) > 0, JSON.stringify(r))
    assert.equal(rig.server.usage(alice.peerId).sessions, 20)
    // while she holds her share, bob still gets in
    const theirs = await RawClient.open(bob, rig)
    await theirs.openSession(rig)
    await raw.channel.close()
    await theirs.channel.close()
    assert.ok(await until(() => rig.server.openSessions === 0), 'closing the streams closed their sessions')
  })

  test('sessions per peer are bounded even when the cache has room', async () => {
    const raw = await RawClient.open(alice, rig)
    await raw.burst(Array.from({ length: 30 }, () => ({ header: raw.openMsg(rig, { maxLength: 1 }) })))
    const replies = await raw.count(30)
    assert.equal(replies.filter(r => r.t === 'opened').length, 24)
    assertError(replies.find(r => r.t === 'error')!, 'BUSY')
    await raw.channel.close()
    assert.ok(await until(() => rig.server.openSessions === 0))
  })

  test('unfinished messages: one peer cannot park more than its byte budget, and others are served meanwhile', async () => {
    const streams = await Promise.all(Array.from({ length: 6 }, async () => await RawClient.open(alice, rig)))
    const big = encodeMessage(stepMsg('x'.repeat(16), 0, 0), new Uint8Array(8 * 2 ** 20)) // 8 MiB, of which 1 MiB is sent
    for (const s of streams) await s.channel.sendRaw(big.subarray(0, 2 ** 20)).catch(() => {})
    // a 3 MiB budget holds three of the six half-sent messages; the others' streams are refused
    assert.ok(await until(() => streams.filter(s => !s.channel.isOpen).length >= 3), 'the streams past the budget were closed')
    const refused = streams.filter(s => s.replies.some(r => r.t === 'error' && r.code === 'BUSY'))
    assert.ok(refused.length >= 3, `${refused.length} streams were told BUSY`)
    const honest = await RawClient.open(bob, rig)
    const session = await honest.openSession(rig)
    await honest.channel.send(stepMsg(session, 0, 0), hidden(1))
    assert.equal((await honest.next()).t, 'result')
    for (const s of [...streams, honest]) await s.channel.close().catch(() => {})
  })

})

describe('connections and idle sessions', () => {
  test('an idle session expires: its owner is told, its cache is free again', async () => {
    const rig = await startRig({ sessionIdleMs: 300 })
    const bob = await NetNode.create({ bootstrap: [rig.addr] })
    try {
      const raw = await RawClient.open(bob, rig)
      const session = await raw.openSession(rig)
      assert.equal(rig.server.usage(bob.peerId).sessions, 1)
      const reply = await raw.next(3000)
      assertError(reply, 'SESSION_CLOSED')
      assert.match(reply.t === 'error' ? reply.message : '', /idle/)
      assert.equal(rig.server.usage(bob.peerId).sessions, 0)
      await raw.channel.send(stepMsg(session, 0, 0), hidden(1))
      assertError(await raw.next(), 'UNKNOWN_SESSION')
      await raw.channel.close()
    } finally {
      await bob.stop()
      await rig.close()
    }
  })
  test('strangers holding idle connections do not lock new clients out', async () => {
    const rig = await startRig({ node: { maxConnections: 8 } })
    const idle: NetNode[] = []
    try {
      for (let i = 0; i < 16; i++) {
        const n = await NetNode.create()
        idle.push(n)
        await n.ping(parsePeerAddress(rig.addr)).catch(() => {})
      }
      assert.ok(await until(() => rig.node.connectionCount <= 9), `the server holds ${rig.node.connectionCount} connections`)
      const client = await NetNode.create()
      idle.push(client)
      const s = await RemoteSpanSession.open(client, parsePeerAddress(rig.addr), { session: 'honest-client-1', model: rig.host.modelId, start: 0, end: 5, maxLength: 4 }, DIM,
        { onResult: () => {}, onFailure: () => {} }, { timeoutMs: 5000 })
      await s.close()
    } finally {
      await Promise.all(idle.map(async n => { await n.stop() }))
      await rig.close()
    }
  })
})

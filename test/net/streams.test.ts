/**
 * Streams are released when sessions end (both ends closed), so a long-lived client never runs
 * into the muxer's stream limit; a session open against a peer that never answers times out even
 * when the garbage collector runs meanwhile.
 */
import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { randomUUID } from 'node:crypto'
import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import { NetNode, RemoteSpanSession, SPAN_PROTOCOL, parsePeerAddress } from '../../src/net/index.ts'
import { DIM, type Rig, startRig, until } from './rig.ts'

setFlagsFromString('--expose-gc')
const gc = runInNewContext('gc') as () => void

const spanStreams = (node: NetNode): number => node.streamCounts()[SPAN_PROTOCOL] ?? 0
const events = { onResult: () => {}, onFailure: () => {} }

describe('stream lifetimes', () => {
  let rig: Rig
  let client: NetNode

  before(async () => {
    rig = await startRig()
    client = await NetNode.create({ bootstrap: [rig.addr] })
  })

  after(async () => {
    await client?.stop()
    await rig?.close()
  })

  test('1,100 sessions opened and closed in a row: every one opens, and no stream is left on either side', async () => {
    const peer = parsePeerAddress(rig.addr)
    for (let i = 0; i < 1100; i++) {
      const s = await RemoteSpanSession.open(client, peer, { session: randomUUID(), model: rig.host.modelId, start: 0, end: 5, maxLength: 4 }, DIM, events, { timeoutMs: 5000 })
      await s.close()
    }
    assert.ok(await until(() => spanStreams(client) === 0 && spanStreams(rig.node) === 0), `streams left: client ${spanStreams(client)}, server ${spanStreams(rig.node)}`)
    assert.equal(rig.server.openSessions, 0)
  })

  test('a session open against a peer that accepts the stream and never answers times out, garbage collection or not', { timeout: 10_000 }, async () => {
    const silent = await NetNode.create({ listen: ['/ip4/127.0.0.1/tcp/0'] })
    await silent.handle(SPAN_PROTOCOL, () => { /* accepts, says nothing */ })
    try {
      const peer = parsePeerAddress(silent.addresses[0]!)
      const t0 = Date.now()
      const opens = Array.from({ length: 4 }, async () => await RemoteSpanSession.open(client, peer, { session: randomUUID(), model: 'x', start: 0, end: 1, maxLength: 4 }, DIM, events, { timeoutMs: 300 }))
      const collect = setInterval(gc, 20)
      const results = await Promise.allSettled(opens)
      clearInterval(collect)
      for (const r of results) assert.equal(r.status === 'rejected' && (r.reason as { code?: string }).code, 'TIMEOUT')
      assert.ok(Date.now() - t0 < 5000, `took ${Date.now() - t0} ms`)
    } finally {
      await silent.stop()
    }
  })
})

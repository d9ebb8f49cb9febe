/**
 * An audit replay looks like real decoding: a real client cannot send a hop's next input before it
 * has the last output, so a replay must not either (a server that saw steps queue up behind the one
 * it computes could tell an audit from real work and be honest only there). It also checks the
 * replay's grouping: the prompt alone, then the decode steps `chunk` at a time.
 */
import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'
import { NetNode } from '../../src/net/index.ts'
import type { StepRecord } from '../../src/swarm/index.ts'
import type { SwarmServer } from '../../src/swarm/index.ts'
import { replayOn } from '../../src/verify/replay.ts'
import { cheat } from '../swarm/cheaters.ts'
import { serveInProcess } from '../swarm/harness.ts'

let server: SwarmServer
let client: NetNode
/** per forward at the server: its rows */
const rows: number[] = []
/** per step that arrived: the steps that had arrived before it and were not computed yet */
const aheadOnArrival: number[] = []

before(async () => {
  server = await serveInProcess([0, 5])
  let arrived = 0
  let computed = 0
  const inner = (server as unknown as { spanServer: { dispatch: (channel: unknown, raw: { header: { t: string } }) => void } }).spanServer
  const dispatch = inner.dispatch.bind(inner)
  inner.dispatch = (channel, raw) => {
    if (raw.header.t === 'step') aheadOnArrival.push(arrived++ - computed)
    dispatch(channel, raw)
  }
  cheat(server, async ({ hidden, honest, host }) => {
    await new Promise(resolve => setTimeout(resolve, 30)) // time for any step sent early to arrive
    rows.push(hidden.length / host.dim)
    const out = await honest()
    computed++
    return out
  })
  client = await NetNode.create({ bootstrap: server.addresses })
})

after(async () => {
  await client.stop()
  await server.stop()
})

test('a replay sends each step only after the result of the one before', async () => {
  const dim = 64
  const at = (step: number, from: number, rows: number): StepRecord => ({
    step, from, input: Float32Array.from({ length: rows * dim }, (_, i) => Math.sin(step * 31 + i) * 0.5), output: new Float32Array(0), receipt: undefined as never
  })
  // a prompt of 5 rows, then 9 decode steps of one row each
  const records = [at(0, 0, 5), ...Array.from({ length: 9 }, (_, i) => at(i + 1, 5 + i, 1))]
  const modelId = server.modelId
  const peer = { id: server.node.peerId, addrs: server.addresses.map(a => a.slice(0, a.lastIndexOf('/p2p/'))) }
  const { records: theirs } = await replayOn(client, peer, { modelId, start: 0, end: 5, dim, dtype: 'f32', maxLength: 32 }, records, { chunk: 4 })
  // the prompt alone, then the decode steps 4 at a time
  assert.deepEqual(rows, [5, 4, 4, 1])
  assert.deepEqual(theirs.map(r => r.input.length / dim), [5, 4, 4, 1])
  assert.deepEqual(aheadOnArrival, [0, 0, 0, 0], 'every step arrived after the one before it was computed')
})

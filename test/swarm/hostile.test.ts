/**
 * Hostile and overloaded servers as a client meets them: a server that claims to be fast gets routes
 * only until it has been timed; a server that refuses the span it announced is kept out for as long
 * as its claim stands; a swarm that is full says so at once (BUSY with a retry hint), not NO_ROUTE a
 * minute later.
 */
import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import type { Model } from '../../src/model/index.ts'
import { type RouteEvent, type ServeOptions, type SwarmExecutor, type SwarmServer, loadSwarmModel } from '../../src/swarm/index.ts'
import { lieInRecord, slowDown } from './cheaters.ts'
import { STORIES, greedyIds, serveInProcess } from './harness.ts'

/** Waits until the model's swarm client has found `n` servers (a DHT lookup right after they start may miss some). */
async function seeAll (model: Model, n: number): Promise<void> {
  const { client } = model.executors[0] as SwarmExecutor
  for (let t = 0; t < 100 && (await client.servers(model.modelId, model.config.nLayers, { refresh: true })).length < n; t++) await new Promise(resolve => setTimeout(resolve, 100))
  assert.equal((await client.servers(model.modelId, model.config.nLayers)).length, n, 'the client found every server')
}

const serve = async (blocks: [number, number], bootstrap: string[] = [], extra: Partial<ServeOptions> = {}): Promise<SwarmServer> => await serveInProcess(blocks, bootstrap, extra)

describe('a server that claims more than it does', () => {
  const servers: SwarmServer[] = []
  let model: Model
  const routes: RouteEvent[] = []

  before(async () => {
    const first = await serve([0, 2])
    servers.push(first, await serve([2, 5], first.addresses))
    const liar = await serve([0, 5], first.addresses)
    servers.push(liar)
    slowDown(liar, 200) // far slower than any honest server here, even on a loaded machine
    // ten thousand times faster than anyone, and next door to every server
    await lieInRecord(liar, r => ({ throughput: 1e6, pings: Object.fromEntries(servers.map(s => [s.node.peerId, 0])) }))
    model = await loadSwarmModel(STORIES, { bootstrap: first.addresses, onRoute: e => routes.push(e) })
    await seeAll(model, servers.length)
  })

  after(async () => {
    await model?.close()
    await Promise.all(servers.map(async s => { await s.stop() }))
  })

  test('routes follow what the client measured, not what the liar announced', async () => {
    const liar = servers[2]!.node.peerId
    for (let i = 0; i < 10; i++) await greedyIds(model, 'Lily', 3)
    const through = routes.filter(r => r.hops.some(h => h.peer === liar)).length
    assert.ok(through <= 2, `${through} of ${routes.length} routes went through the liar`)
  })
})

describe('a server that announces blocks it does not serve', () => {
  const servers: SwarmServer[] = []

  before(async () => {
    const first = await serve([0, 2])
    servers.push(first, await serve([2, 5], first.addresses))
    const liar = await serve([0, 2], first.addresses)
    servers.push(liar)
    await lieInRecord(liar, () => ({ start: 0, end: 5, throughput: 1e6 }))
  })

  after(async () => { await Promise.all(servers.map(async s => { await s.stop() })) })

  test('is kept out of routes for as long as its claim stands, from its first refusal', async () => {
    const liar = servers[2]!.node.peerId
    const routes: RouteEvent[] = []
    const model = await loadSwarmModel(STORIES, { bootstrap: servers[0]!.addresses, onRoute: e => routes.push(e) })
    try {
      await seeAll(model, servers.length)
      const local = await greedyIds(model, 'Lily', 8) // the first route tries the liar (one hop, "fast"), which refuses
      for (let i = 0; i < 3; i++) assert.deepEqual(await greedyIds(model, 'Lily', 8), local)
      assert.ok(!routes.some(r => r.hops.some(h => h.peer === liar)), 'no session ran through the liar')
      const { client } = model.executors[0] as SwarmExecutor
      const until = client.bannedUntil(liar)
      assert.ok(until !== undefined && until - Date.now() > 60_000, `banned for ${until === undefined ? 0 : until - Date.now()} ms (its record is valid for two minutes)`)
    } finally {
      await model.close()
    }
  })
})

describe('a full swarm', () => {
  const servers: SwarmServer[] = []

  before(async () => {
    servers.push(await serve([0, 5], [], { limits: { maxSessions: 1 } }))
  })

  after(async () => { await Promise.all(servers.map(async s => { await s.stop() })) })

  test('a request that finds every server full fails at once with BUSY and a retry hint', async () => {
    const [a, b] = [await loadSwarmModel(STORIES, { bootstrap: servers[0]!.addresses }), await loadSwarmModel(STORIES, { bootstrap: servers[0]!.addresses })]
    try {
      const holding = a.generate('Lily', { temperature: 0, maxTokens: 50 })[Symbol.asyncIterator]()
      await holding.next() // a's session holds the only slot
      const t0 = Date.now()
      await assert.rejects(greedyIds(b, 'Lily', 4), (err: unknown) => {
        const e = err as { code?: string, retryAfterMs?: number }
        return e.code === 'BUSY' && (e.retryAfterMs ?? 0) > 0
      })
      assert.ok(Date.now() - t0 < 5000, `failed after ${Date.now() - t0} ms`)
      await holding.return?.()
    } finally {
      await Promise.all([a.close(), b.close()])
    }
  })
})

/**
 * Two replicas of a whole model (random weights of stories15M's shape): one client's concurrent
 * sessions are counted on the replica each was routed to (what the planner spreads load by) and
 * released when they end, and every generation is still the reference.
 */
import { after, before, test } from 'node:test'
import assert from 'node:assert/strict'
import { join } from 'node:path'
import { Model } from '../../src/model/index.ts'
import { SHAPE_15M, writeSyntheticGguf } from '../../src/model/synthetic.ts'
import { type RouteEvent, type SwarmExecutor, loadSwarmModel } from '../../src/swarm/index.ts'
import { type ServerProcess, greedyIds, startServer, startServers, stopServers, tempDir } from './harness.ts'

const PROMPTS = ['the', 'a quick fox', 'once', 'the cat sat', 'one day', 'blue', 'a b c', 'the sun']
const TOKENS = 8

const dir = tempDir()
const MODEL = join(dir.path, 'synthetic-15m.gguf')
const servers: ServerProcess[] = []
let alone: number[][]

before(async () => {
  writeSyntheticGguf(MODEL, SHAPE_15M, { seed: 3 })
  servers.push(await startServer(MODEL, ['--blocks', '0:6', '--threads', '1']))
  await startServers(servers, MODEL, [['--blocks', '0:6', '--threads', '1']], { bootstrap: [servers[0]!] })
  const local = await Model.load(MODEL)
  try {
    alone = []
    for (const p of PROMPTS) alone.push(await greedyIds(local, p, TOKENS))
  } finally {
    await local.close()
  }
})

after(async () => {
  await stopServers(servers)
  dir.remove()
})

test('concurrent sessions over two replicas: the client counts what it holds on each while open, outputs unchanged', async () => {
  const routes: RouteEvent[] = []
  const model = await loadSwarmModel(MODEL, { bootstrap: [servers[0]!.addr], onRoute: e => routes.push(e) })
  const client = (model.executors[0] as SwarmExecutor).client
  const held = (): number => servers.reduce((n, s) => n + client.sessionsOn(s.peer), 0)
  let most = 0
  try {
    await greedyIds(model, 'x', 2) // finds both replicas
    const together = await Promise.all(PROMPTS.map(async p => {
      const ids: number[] = []
      for await (const t of model.generate(p, { temperature: 0, maxTokens: TOKENS })) {
        ids.push(t.id)
        most = Math.max(most, held())
      }
      return ids
    }))
    assert.deepEqual(together, alone)
  } finally {
    await model.close()
  }
  // every session was counted on the server it was routed to while it ran, and released after
  assert.equal(most, PROMPTS.length)
  assert.equal(held(), 0)
  assert.equal(routes.filter(r => r.reason === 'open').length, PROMPTS.length + 1)
  // which replica each took depends on the servers' measured speeds (src/swarm/planner.test.ts
  // pins the choice: load spreads sessions over equal replicas)
})

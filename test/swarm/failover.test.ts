/**
 * Test 2: at least two servers per span; `kill -9` the server in the middle of the chain while a
 * greedy generation runs. The run completes with the tokens of an undisturbed run. Ten times: the
 * middle span starts with eleven servers (started together, which is much faster than restarting
 * one per run), so two are alive at every kill.
 */
import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { Model } from '../../src/model/index.ts'
import { type RouteEvent, loadSwarmModel } from '../../src/swarm/index.ts'
import { STORIES, type ServerProcess, greedyIds, startServer, startServers, stopServers } from './harness.ts'

const REPS = 10
const TOKENS = 80

describe('failover when a mid-chain server is killed', () => {
  const servers: ServerProcess[] = []
  let reference: number[]
  let model: Model
  const routes: RouteEvent[] = []

  before(async () => {
    const first = await startServer(STORIES, ['--blocks', '0:2'])
    servers.push(first)
    const spans = ['0:2', '4:5', '4:5', ...Array.from({ length: REPS + 1 }, () => '2:4')]
    await startServers(servers, STORIES, spans.map(b => ['--blocks', b]), { bootstrap: [first], timeoutMs: 120_000 })
    const local = await Model.load(STORIES)
    reference = await greedyIds(local, 'Once upon a time', TOKENS)
    await local.close()
    model = await loadSwarmModel(STORIES, { bootstrap: servers.map(s => s.addr), banMs: 600_000, onRoute: e => routes.push(e) })
  })

  after(async () => {
    await model?.close()
    await stopServers(servers)
  })

  for (let rep = 0; rep < REPS; rep++) {
    test(`run ${rep + 1}: identical tokens after kill -9 of the middle server`, async () => {
      const alive = servers.filter(s => s.proc.exitCode === null && s.proc.signalCode === null)
      const seen = routes.length
      const ids: number[] = []
      let victim: ServerProcess | undefined
      const killAt = 5 + rep * 7
      for await (const t of model.generate('Once upon a time', { temperature: 0, maxTokens: TOKENS })) {
        ids.push(t.id)
        if (ids.length === killAt) {
          const route = routes[routes.length - 1]!
          assert.equal(route.hops.length, 3)
          victim = alive.find(s => s.peer === route.hops[1]!.peer)
          assert.ok(victim !== undefined, 'the middle hop is one of our servers')
          victim.proc.kill('SIGKILL') // not awaited: it dies while the next step is in flight
        }
      }
      assert.deepEqual(ids, reference)
      await victim!.exited
      const mine = routes.slice(seen)
      const failover = mine.find(r => r.reason === 'failover')
      assert.ok(failover !== undefined, 'the session failed over')
      assert.ok(!failover.hops.some(h => h.peer === victim!.peer), 'the new route avoids the killed server')
      assert.deepEqual(failover.hops.map(h => [h.start, h.end]), [[0, 2], [2, 4], [4, 5]])
    })
  }
})

/**
 * Speculative decoding through a swarm of three server processes serving stories260K (0:2, 2:4,
 * 4:5, and a spare 2:4): greedy output equals llama2.c's for 200 tokens with n-gram drafts, with
 * drafts that are right most of the time and with drafts that are always wrong, pushed or relayed;
 * and when the middle server is killed while a speculative step is on its way, the output is still
 * the reference (the failover replays each hop's history as the rollbacks left it).
 */
import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import type { DraftSource, Model, SpeculateOptions } from '../../src/model/index.ts'
import { type RouteEvent, loadSwarmModel } from '../../src/swarm/index.ts'
import { referenceDrafter, wrongDrafter } from '../fixtures/drafters.ts'
import { expectedIds } from '../fixtures/stories.ts'
import { STORIES, type ServerProcess, startServer, startServers, stopServers } from './harness.ts'

async function speculative (model: Model, speculate: SpeculateOptions, maxTokens = 200): Promise<number[]> {
  const ids: number[] = []
  for await (const t of model.generate([1], { temperature: 0, maxTokens, speculate })) ids.push(t.id)
  return ids
}

describe('speculative decoding through a three-server swarm', () => {
  const servers: ServerProcess[] = []
  const reference = expectedIds()
  const V = 512

  before(async () => {
    servers.push(await startServer(STORIES, ['--blocks', '0:2']))
    await startServers(servers, STORIES, [['--blocks', '2:4'], ['--blocks', '2:4'], ['--blocks', '4:5']], { bootstrap: [servers[0]!] })
  })

  after(async () => { await stopServers(servers) })

  for (const mode of ['push', 'relay'] as const) {
    test(`greedy speculative output equals llama2.c's for 200 tokens (${mode})`, async () => {
      const model = await loadSwarmModel(STORIES, { bootstrap: [servers[0]!.addr], mode })
      try {
        assert.deepEqual(await speculative(model, {}), reference, 'n-gram, auto')
        if (mode === 'push') {
          assert.deepEqual(await speculative(model, { k: 6, drafter: referenceDrafter(reference, 1, V, 5) }), reference, 'mostly right')
          assert.deepEqual(await speculative(model, { k: 3, drafter: wrongDrafter(reference, 1, V) }), reference, 'always wrong')
        }
      } finally {
        await model.close()
      }
    })
  }

  test('kill -9 of the middle server during a speculative step: the output is the reference', async () => {
    const routes: RouteEvent[] = []
    const model = await loadSwarmModel(STORIES, { bootstrap: servers.map(s => s.addr), banMs: 600_000, onRoute: e => routes.push(e) })
    let victim: ServerProcess | undefined
    const inner = referenceDrafter(reference, 1, V, 3)
    // right two times in three, so the caches the failover rebuilds come from steps cut by rollbacks
    const killing: DraftSource = {
      name: 'killing',
      open: async context => {
        const d = await inner.open(context)
        return {
          draft: async (history, k) => {
            if (victim === undefined && history.length >= 60) {
              const middle = routes[routes.length - 1]!.hops[1]!.peer
              victim = servers.find(s => s.peer === middle)
              victim!.proc.kill('SIGKILL') // not awaited: the step these drafts go in meets a dying server
            }
            return await d.draft(history, k)
          }
        }
      }
    }
    try {
      assert.deepEqual(await speculative(model, { k: 4, drafter: killing }), reference)
      assert.ok(victim !== undefined)
      await victim.exited
      const failover = routes.find(r => r.reason === 'failover')
      assert.ok(failover !== undefined, 'the session failed over')
      assert.ok(!failover.hops.some(h => h.peer === victim!.peer))
    } finally {
      await model.close()
    }
  })
})

/**
 * Test 1, large: a random-weight model of SmolLM2-135M's shape (30 blocks, GQA 9/3, dim 576),
 * split over three server processes, generates the same greedy tokens as in one process. The ref
 * backend is slow at this size, so only a few tokens.
 */
import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { join } from 'node:path'
import { Model } from '../../src/model/index.ts'
import { SHAPE_135M, writeSyntheticGguf } from '../../src/model/synthetic.ts'
import { loadSwarmModel } from '../../src/swarm/index.ts'
import { type ServerProcess, greedyIds, startServer, startServers, stopServers, tempDir } from './harness.ts'

describe('a 135M-shaped model over three servers', () => {
  const dir = tempDir()
  const path = join(dir.path, 'synthetic-135m.gguf')
  const servers: ServerProcess[] = []

  before(async () => {
    writeSyntheticGguf(path, SHAPE_135M, { seed: 7 })
    servers.push(await startServer(path, ['--blocks', '0:10'], { timeoutMs: 120_000 }))
    await startServers(servers, path, [['--blocks', '10:20'], ['--blocks', '20:30']], { bootstrap: [...servers], timeoutMs: 120_000 })
  })

  after(async () => {
    await stopServers(servers)
    dir.remove()
  })

  test('greedy tokens equal the single-process run', async () => {
    const local = await Model.load(path)
    const expected = await greedyIds(local, 'the quick brown fox', 3)
    await local.close()
    const swarm = await loadSwarmModel(path, { bootstrap: [servers[0]!.addr] })
    try {
      assert.deepEqual(await greedyIds(swarm, 'the quick brown fox', 3), expected)
    } finally {
      await swarm.close()
    }
  })
})

/**
 * Test 1: three server processes each serving part of stories260K, and a client: greedy output is
 * identical to the single-process run (push and relay), and `status` sees the swarm.
 */
import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { createBackend } from '../../src/kernels/index.ts'
import { LocalSpanExecutor, Model, openModel } from '../../src/model/index.ts'
import { type RouteEvent, SwarmClient, SwarmExecutor, loadSwarmModel } from '../../src/swarm/index.ts'
import { expectedIds } from '../fixtures/stories.ts'
import { ROOT, STORIES, type ServerProcess, greedyIds, startServer, startServers, stopServers } from './harness.ts'


describe('a three-server swarm of stories260K', () => {
  const servers: ServerProcess[] = []
  let local: Model
  let reference: number[]
  let prompted: number[]

  before(async () => {
    servers.push(await startServer(STORIES, ['--blocks', '0:2', '--name', 'first']))
    await startServers(servers, STORIES, [['--blocks', '2:4'], ['--blocks', '4:5']], { bootstrap: [...servers] })
    local = await Model.load(STORIES)
    reference = await greedyIds(local, '', 200)
    prompted = await greedyIds(local, 'Once upon a time, Lily', 60)
  })

  after(async () => {
    await local?.close()
    await stopServers(servers)
  })

  test('the local reference matches llama2.c', () => {
    assert.deepEqual(reference, expectedIds())
  })

  for (const mode of ['push', 'relay'] as const) {
    test(`greedy output through the swarm equals the local run (${mode})`, async () => {
      const routes: RouteEvent[] = []
      const model = await loadSwarmModel(STORIES, { bootstrap: [servers[0]!.addr], mode, onRoute: e => routes.push(e) })
      try {
        assert.equal(model.modelId, local.modelId)
        assert.deepEqual(await greedyIds(model, '', 200), reference)
        assert.deepEqual(await greedyIds(model, 'Once upon a time, Lily', 60), prompted)
        const gen = model.generate('Once upon a time, Lily', { temperature: 0, maxTokens: 20 })
        let text = ''
        for await (const t of gen) text += t.text
        assert.equal(gen.completionTokens, 20)
        assert.ok(text.length > 0)
      } finally {
        await model.close()
      }
      assert.equal(routes.length, 3) // one route per session, no failover
      assert.deepEqual(routes[0]!.hops.map(h => [h.peer, h.start, h.end]), [[servers[0]!.peer, 0, 2], [servers[1]!.peer, 2, 4], [servers[2]!.peer, 4, 5]])
    })
  }

  test('a swarm session rolls back like a local one', async () => {
    const source = await openModel(STORIES)
    const localSpan = await LocalSpanExecutor.load(source, await createBackend('auto'), { start: 0, end: 5 })
    const client = await SwarmClient.create({ bootstrap: [servers[0]!.addr] })
    const swarm = new SwarmExecutor(client, { modelId: localSpan.modelId, config: source.config })
    const [a, b] = [await localSpan.open('rollback', { maxLength: 32 }), await swarm.open('rollback', { maxLength: 32 })]
    try {
      const dim = source.config.dim
      const rows = (n: number, seed: number): Float32Array => Float32Array.from({ length: n * dim }, (_, i) => Math.sin(i * 0.1 + seed)) // (n, dim)
      const both = async (n: number, seed: number): Promise<void> => {
        const positions = Array.from({ length: n }, (_, i) => a.length + i)
        assert.deepEqual(await b.forward(rows(n, seed), positions), await a.forward(rows(n, seed), positions))
        assert.equal(b.length, a.length)
      }
      await both(4, 1)
      await both(1, 2)
      await both(1, 3)
      await Promise.all([a.rollback(2), b.rollback(2)]) // cuts into the first (4-row) step
      await both(3, 4)
      await both(1, 5)
    } finally {
      await Promise.all([a.close(), b.close()])
      await localSpan.close()
      await client.stop()
    }
  })

  test('status lists the servers and every block', async () => {
    const { stdout } = await promisify(execFile)(process.execPath, [join(ROOT, 'bin/gridllm.mjs'), 'status', '--bootstrap', servers[1]!.addr], { cwd: ROOT })
    assert.match(stdout, /5 blocks, 3 servers/)
    assert.match(stdout, /"first"\s+blocks 0:2\s+online/)
    for (let b = 0; b < 5; b++) assert.match(stdout, new RegExp(`block ${b}: [0-9.]+ tok/s from`))
    assert.match(stdout, /every block is covered/)
  })

  test('the CLI swarm client prints what the local generate prints', async () => {
    const run = async (extra: string[]): Promise<string> =>
      (await promisify(execFile)(process.execPath, [join(ROOT, 'bin/gridllm.mjs'), 'generate', '-m', STORIES, '-t', '0', '-n', '30', '-p', 'Lily', ...extra], { cwd: ROOT })).stdout
    const [alone, swarm] = await Promise.all([run([]), run(['--bootstrap', servers[0]!.addr])])
    assert.ok(alone.startsWith('Lily') && alone.length > 20)
    assert.equal(swarm, alone)
  })
})

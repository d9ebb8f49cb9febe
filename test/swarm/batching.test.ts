/**
 * A batching span server: eight sessions generating at once through one server get the same greedy
 * tokens as each alone, while the server runs their steps together (its step log says so).
 */
import { after, before, test } from 'node:test'
import assert from 'node:assert/strict'
import { Model } from '../../src/model/index.ts'
import { loadSwarmModel } from '../../src/swarm/index.ts'
import { STORIES, type ServerProcess, greedyIds, startServer, stopServers } from './harness.ts'

const PROMPTS = ['', 'Once upon a time', 'Lily', 'The cat', 'Tom had a ball', 'One day', 'Sue and Ben', 'The sun']
const TOKENS = 48

const servers: ServerProcess[] = []
let alone: number[][]

before(async () => {
  servers.push(await startServer(STORIES, ['--blocks', '0:5', '--threads', '1'], { env: { DEBUG: 'gridllm:net:steps' } }))
  const local = await Model.load(STORIES)
  try {
    alone = []
    for (const p of PROMPTS) alone.push(await greedyIds(local, p, TOKENS))
  } finally {
    await local.close()
  }
})

after(async () => { await stopServers(servers) })

test('8 concurrent sessions through one batching server get the same greedy tokens as each alone', async () => {
  const model = await loadSwarmModel(STORIES, { bootstrap: [servers[0]!.addr] })
  try {
    const together = await Promise.all(PROMPTS.map(async p => await greedyIds(model, p, TOKENS)))
    assert.deepEqual(together, alone)
  } finally {
    await model.close()
  }
  // every step's log line names the batch that computed it: most decode steps shared a forward
  const batches = [...servers[0]!.log().matchAll(/: 1 rows, .* batch of (\d+) steps/g)].map(m => Number(m[1]))
  assert.ok(batches.length >= PROMPTS.length * (TOKENS - 1), `${batches.length} decode steps logged`)
  const shared = batches.filter(n => n > 1).length
  assert.ok(shared > batches.length / 2, `${shared} of ${batches.length} decode steps shared a forward`)
})

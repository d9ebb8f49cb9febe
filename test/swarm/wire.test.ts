/**
 * Hidden states on the wire as f16 and as i8 (a scale per row), through two servers with push: the
 * bundled model's output stays llama2.c's (f16: every greedy token; i8: teacher-forced top-1
 * agreement), and audits pass (the tolerance covers the rounding).
 */
import { after, before, test } from 'node:test'
import assert from 'node:assert/strict'
import type { Model } from '../../src/model/index.ts'
import { closeAll, forwardTokens, openSessions } from '../../src/model/prefill.ts'
import { loadSwarmModel } from '../../src/swarm/index.ts'
import { encodeFrame } from '../../src/tensor/index.ts'
import { randomId } from '../../src/util/index.ts'
import { verification } from '../../src/verify/index.ts'
import { expectedIds } from '../fixtures/stories.ts'
import { STORIES, type ServerProcess, greedyIds, startServer, startServers, stopServers } from './harness.ts'

const servers: ServerProcess[] = []

before(async () => {
  servers.push(await startServer(STORIES, ['--blocks', '0:2']))
  await startServers(servers, STORIES, [['--blocks', '2:5'], ['--blocks', '2:5']], { bootstrap: [servers[0]!] })
})

after(async () => { await stopServers(servers) })

/** Teacher-forced top-1 agreement with llama2.c's greedy run: each of its 200 tokens predicted from the ones before, in one step. */
async function agreement (model: Model): Promise<number> {
  const reference = expectedIds()
  const ids = [model.tokenizer.bos!, ...reference.slice(0, -1)]
  const sessions = await openSessions(model, randomId(), ids.length)
  let hidden: Float32Array
  try {
    hidden = await forwardTokens(model, sessions, ids, 0) // (200, dim): one step, one chunk
  } finally {
    await closeAll(sessions)
  }
  const logits = await model.ends.logits(hidden) // (200, vocab)
  const vocab = logits.length / ids.length
  let same = 0
  reference.forEach((id, i) => {
    const row = logits.subarray(i * vocab, (i + 1) * vocab)
    if (row.indexOf(Math.max(...row)) === id) same++
  })
  return same / reference.length
}

for (const dtype of ['f16', 'i8'] as const) {
  test(`--wire ${dtype}: output as llama2.c's, and every audit passes`, async () => {
    const outcomes: string[] = []
    const model = await loadSwarmModel(STORIES, {
      bootstrap: [servers[0]!.addr], dtype,
      watcher: verification({ mode: 'sample', policy: { rate: 1, probationRate: 1, probationAudits: 0 }, onAudit: o => { outcomes.push(o.result) } })
    })
    try {
      if (dtype === 'f16') assert.deepEqual(await greedyIds(model, '', 200), expectedIds())
      else {
        // i8 rounds every hidden state to 1/127 of its row's largest value: greedy output drifts
        // from the reference after a while (a near tie flips, and the text goes its own way), so
        // each token is checked given the reference's tokens before it
        const ids = await greedyIds(model, '', 200)
        const first = ids.findIndex((id, i) => id !== expectedIds()[i])
        assert.ok(first === -1 || first >= 100, `the first ${first} tokens are the reference's`)
        const agreed = await agreement(model)
        assert.ok(agreed >= 0.98, `teacher-forced top-1 agreement ${agreed}`)
      }
    } finally {
      await model.close()
    }
    // blocks 0:2 have no second server to audit them (skipped); 2:5 have
    assert.ok(outcomes.includes('pass'), outcomes.join(', '))
    assert.deepEqual(outcomes.filter(r => r !== 'pass' && r !== 'skipped'), [])
  })
}

test('an i8 frame of a hidden state is about a quarter of f32', () => {
  const hidden = new Float32Array(64 * 16).fill(0.5) // (16, dim)
  const [f32, i8] = [encodeFrame(hidden, [16, 64]), encodeFrame(hidden, [16, 64], { dtype: 'i8' })]
  assert.ok(i8.byteLength < f32.byteLength * 0.3, `${i8.byteLength} vs ${f32.byteLength} bytes`)
})

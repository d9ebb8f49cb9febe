/**
 * Speculative generation on the bundled stories260K, in process: greedy output is llama2.c's,
 * token for token, whatever the drafts (n-gram, a draft model, drafts that are right most of the
 * time, drafts that are always wrong); seeded sampling with point-mass drafts gives the very tokens
 * of the run without speculation; the draft length follows acceptance and step time.
 */
import { after, before, test } from 'node:test'
import assert from 'node:assert/strict'
import { fileURLToPath } from 'node:url'
import { Model } from '../model.ts'
import { Prng } from '../sampler.ts'
import { DraftController } from './controller.ts'
import { ModelDraftSource } from './model-drafter.ts'
import { NgramDrafter, lookupDraft } from './ngram.ts'
import { referenceDrafter, wrongDrafter } from '../../../test/fixtures/drafters.ts'

const MODEL = fileURLToPath(new URL('../../../models/stories260K/stories260K.gguf', import.meta.url))
const EXPECTED = fileURLToPath(new URL('../../../test/fixtures/stories260K/expected-greedy-200-ids.txt', import.meta.url))

let model: Model
let reference: number[]

before(async () => {
  model = await Model.load(MODEL)
  const { readFileSync } = await import('node:fs')
  reference = readFileSync(EXPECTED, 'utf8').trim().split(',').map(Number)
})

after(async () => { await model?.close() })

async function ids (options: object): Promise<{ ids: number[], report: unknown }> {
  const out: number[] = []
  const gen = model.generate([1], { temperature: 0, maxTokens: 200, ...options })
  for await (const t of gen) out.push(t.id)
  return { ids: out, report: gen.speculation }
}

test('greedy speculative output is the reference for every drafter and draft length', async () => {
  const V = model.config.vocabSize
  const drafter = await Model.load(MODEL)
  try {
    const cases: Array<[string, object]> = [
      ['n-gram, auto', { speculate: {} }],
      ['n-gram, k=8', { speculate: { k: 8, drafter: new NgramDrafter() } }],
      ['mostly right, k=5', { speculate: { k: 5, drafter: referenceDrafter(reference, 1, V, 4) } }],
      ['always wrong, k=3', { speculate: { k: 3, drafter: wrongDrafter(reference, 1, V) } }],
      ['draft model (itself), k=4', { speculate: { k: 4, drafter: new ModelDraftSource(drafter) } }]
    ]
    for (const [name, options] of cases) {
      const r = await ids(options)
      assert.deepEqual(r.ids, reference, name)
    }
    const right = await ids({ speculate: { k: 5, drafter: referenceDrafter(reference, 1, V, 0) } })
    assert.deepEqual(right.report, { steps: 34, drafted: 165, accepted: 165 }) // the first token from the prompt, then 6 a step
    const wrong = await ids({ speculate: { k: 3, drafter: wrongDrafter(reference, 1, V) } })
    assert.equal((wrong.report as { accepted: number }).accepted, 0)
  } finally {
    await drafter.close()
  }
})

test('seeded sampling with point-mass drafts gives the tokens of the run without speculation', async () => {
  const V = model.config.vocabSize
  const options = { temperature: 0.9, seed: 11, maxTokens: 120 }
  const plain = await ids(options)
  for (const speculate of [{ k: 4 }, { k: 6, drafter: referenceDrafter(plain.ids, 1, V, 3) }]) {
    assert.deepEqual((await ids({ ...options, speculate })).ids, plain.ids)
  }
})

test('n-gram lookup drafts what followed the longest recent match', () => {
  assert.deepEqual(lookupDraft([5, 6, 7, 8, 1, 5, 6], 3), [7, 8, 1])
  assert.deepEqual(lookupDraft([1, 2, 9, 1, 2, 3, 1, 2], 2), [3, 1]) // the most recent occurrence
  assert.deepEqual(lookupDraft([4, 5, 6], 3), [])
  assert.deepEqual(lookupDraft([1, 2, 3, 1, 2, 3], 1, { minN: 4 }), [])
  assert.throws(() => new NgramDrafter({ minN: 0 }), { code: 'INVALID_ARGUMENT' })
})

test('the draft length grows with the round trip and the acceptance rate, and is bounded', () => {
  const pick = (stepSeconds: (rows: number) => number, alpha: number): number => {
    const c = new DraftController('auto')
    const rng = new Prng(5)
    for (let i = 0; i < 60; i++) {
      const k = Math.max(1, (i % 4) * 2)
      c.observeStep(k + 1, stepSeconds(k + 1))
      let kept = 0
      while (kept < k && rng.next() < alpha) kept++
      c.observeAcceptance(k, kept)
    }
    return c.next()
  }
  // over a WAN (100 ms a round, 1 ms a row) with good drafts: long drafts
  const wan = pick(rows => 0.1 + 0.001 * rows, 0.9)
  // in process (all compute, no round trip) with poor drafts: none
  const local = pick(rows => 0.0001 + 0.01 * rows, 0.2)
  assert.ok(wan >= 6 && wan <= 8, `k ${wan}`)
  assert.equal(local, 0)
  const poor = pick(rows => 0.1 + 0.001 * rows, 0.3)
  assert.ok(poor >= 1 && poor <= 4, `k ${poor}`)
  assert.equal(new DraftController(3).next(), 3)
  assert.throws(() => new DraftController(9), { code: 'INVALID_ARGUMENT' })
  assert.throws(() => new DraftController(0), { code: 'INVALID_ARGUMENT' })
})

/**
 * Speculative generation on the bundled stories260K, in process: greedy output is llama2.c's,
 * token for token, whatever the drafts (n-gram, a draft model, drafts that are right most of the
 * time, drafts that are always wrong); seeded sampling with point-mass drafts gives the very tokens
 * of the run without speculation; the draft length follows acceptance and step time.
 */
import { after, before, test } from 'node:test'
import assert from 'node:assert/strict'
import { fileURLToPath } from 'node:url'
import { jsonObjectGrammar } from '../constrain/index.ts'
import { type GeneratedToken, Generation } from '../generate.ts'
import type { SpanExecutor } from '../span.ts'
import { Model } from '../model.ts'
import { Prng } from '../sampler.ts'
import { DraftController, EXACT_DRAFT } from './controller.ts'
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

test('stop strings, penalties, a grammar and logprobs come out the same with speculation', async () => {
  const run = async (options: object): Promise<{ out: GeneratedToken[], finish: unknown, n: number }> => {
    const gen = model.generate([1], { temperature: 0, maxTokens: 80, ...options })
    const out: GeneratedToken[] = []
    for await (const t of gen) out.push(t)
    return { out, finish: gen.finishReason, n: gen.completionTokens }
  }
  // the same tokens and text; log-probabilities within 1e-4 (a step of several rows may round the
  // logits' last bits differently)
  const same = (a: Awaited<ReturnType<typeof run>>, b: Awaited<ReturnType<typeof run>>, name: string): void => {
    const strip = (r: typeof a): unknown => ({ ...r, out: r.out.map(t => ({ id: t.id, text: t.text, top: t.logprob?.top.map(x => x.id) })) })
    assert.deepEqual(strip(a), strip(b), name)
    a.out.forEach((t, i) => {
      const u = b.out[i]!
      if (t.logprob === undefined) return
      assert.ok(Math.abs(t.logprob.logprob - u.logprob!.logprob) < 1e-4, name)
      t.logprob.top.forEach((x, j) => { assert.ok(Math.abs(x.logprob - u.logprob!.top[j]!.logprob) < 1e-4, name) })
    })
  }
  const V = model.config.vocabSize
  const cases: Array<[string, object]> = [
    ['stop', { stop: ['Lily was'] }],
    ['penalties', { repeatPenalty: 1.3, presencePenalty: 0.5, frequencyPenalty: 0.5, temperature: 0.8, seed: 3 }],
    ['grammar', { grammar: jsonObjectGrammar(), maxTokens: 40 }],
    ['logprobs', { logprobs: 3 }]
  ]
  for (const [name, options] of cases) {
    const plain = await run(options)
    assert.ok(plain.n > 0)
    same(await run({ ...options, speculate: { k: 5 } }), plain, name)
    same(await run({ ...options, speculate: { k: 3, drafter: wrongDrafter(reference, 1, V) } }), plain, name)
  }
})

test('drafts never make a session compute more than twice its length in rows', async () => {
  // the model's spans, counting the rows each step carries
  let rows = 0
  const counting: SpanExecutor[] = model.executors.map(e => ({
    modelId: e.modelId, start: e.start, end: e.end,
    open: async (id, options) => {
      const s = await e.open(id, options)
      return {
        sessionId: s.sessionId, maxLength: s.maxLength, get length () { return s.length },
        forward: async (h, positions, o) => { rows += positions.length; return await s.forward(h, positions, o) },
        rollback: async (to, o) => { await s.rollback(to, o) },
        close: async () => { await s.close() }
      }
    }
  }))
  const pipeline = { config: model.config, ends: model.ends, tokenizer: model.tokenizer, executors: counting }
  const gen = new Generation(pipeline, [1], { temperature: 0, maxTokens: 120, speculate: { k: 8, drafter: wrongDrafter(reference, 1, model.config.vocabSize) } })
  const out: number[] = []
  for await (const t of gen) out.push(t.id)
  assert.deepEqual(out, reference.slice(0, 120))
  assert.ok(rows <= 2 * 121, `${rows} rows for a sequence of 121`)
  assert.ok(gen.speculation!.drafted > 100, 'it did draft while the budget lasted')
})

test('n-gram lookup drafts what followed the longest recent match', () => {
  assert.deepEqual(lookupDraft([5, 6, 7, 8, 1, 5, 6], 3), [7, 8, 1])
  assert.deepEqual(lookupDraft([1, 2, 9, 1, 2, 3, 1, 2], 2), [3, 1]) // the most recent occurrence
  assert.deepEqual(lookupDraft([4, 5, 6], 3), [])
  assert.deepEqual(lookupDraft([1, 2, 3, 1, 2, 3], 1, { minN: 4 }), [])
  assert.throws(() => new NgramDrafter({ minN: 0 }), { code: 'INVALID_ARGUMENT' })
})

test('the draft length grows with the round trip and the acceptance rate, and is bounded', () => {
  const pick = (stepSeconds: (rows: number) => number, alpha: number, maxK = 8): number => {
    const c = new DraftController('auto', maxK)
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
  assert.equal(pick(rows => 0.1 + 0.001 * rows, 0.9, EXACT_DRAFT), EXACT_DRAFT, 'auto stays within the exact draft length unless told')
  assert.equal(new DraftController('auto').maxK, EXACT_DRAFT)
  const poor = pick(rows => 0.1 + 0.001 * rows, 0.3)
  assert.ok(poor >= 1 && poor <= 4, `k ${poor}`)
  assert.equal(new DraftController(3).next(), 3)
  assert.throws(() => new DraftController(9), { code: 'INVALID_ARGUMENT' })
  assert.throws(() => new DraftController(0), { code: 'INVALID_ARGUMENT' })
})

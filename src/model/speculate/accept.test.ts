/**
 * Speculative sampling follows the target's distribution: chi-square tests with fixed seeds, of the
 * rule alone and of whole generations through a toy model whose next-token distribution is known,
 * with bounds that biased versions of the rule exceed by far (checked here too).
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import type { ModelConfig } from '../config.ts'
import type { ModelEnds } from '../ends.ts'
import { Generation } from '../generate.ts'
import { type Distribution, Prng, drawFrom } from '../sampler.ts'
import type { SpanExecutor, SpanSession } from '../span.ts'
import type { Tokenizer } from '../tokenizer/index.ts'
import { probOf, residual, verifyDraft } from './accept.ts'
import type { Draft, Drafter, DraftSource } from './drafter.ts'

const V = 6
const dist = (probs: number[]): Distribution => ({ ids: probs.map((_, i) => i), probs })

/** Pearson's statistic of observed counts against expected probabilities. */
function chiSquare (counts: readonly number[], expected: readonly number[], n: number): number {
  return counts.reduce((sum, c, i) => sum + (c - n * expected[i]!) ** 2 / (n * expected[i]!), 0)
}

// upper 0.001 quantiles of chi-square: an honest rule exceeds them once in a thousand seeds
const CHI2_5_DOF = 20.52
const CHI2_35_DOF = 66.62

const P = dist([0.35, 0.25, 0.15, 0.12, 0.08, 0.05])
const Q = dist([0.05, 0.1, 0.4, 0.1, 0.3, 0.05])

type Rule = (p: Distribution, d: number, q: Distribution, u: () => number) => number

function outcomes (rule: Rule, n: number, seed: number): number[] {
  const rng = new Prng(seed)
  const u = (): number => rng.next()
  const counts = new Array<number>(V).fill(0)
  for (let i = 0; i < n; i++) counts[rule(P, drawFrom(Q, u()), Q, u)]!++
  return counts
}

test('the accept/resample rule gives the target distribution; biased rules fail the same bound', () => {
  const n = 40_000
  assert.ok(chiSquare(outcomes(verifyDraft, n, 7), P.probs, n) < CHI2_5_DOF)
  // on rejection, drawing from p instead of the residual
  const fromP: Rule = (p, d, q, u) => (u() * probOf(q, d) < probOf(p, d) ? d : drawFrom(p, u()))
  // keeping the draft with probability p(d), as if it were a point mass
  const pointMass: Rule = (p, d, q, u) => (u() < probOf(p, d) ? d : drawFrom(residual(p, q) ?? p, u()))
  // the residual without the max(0, ·)
  const noClamp: Rule = (p, d, q, u) => {
    if (u() * probOf(q, d) < probOf(p, d)) return d
    const w = p.probs.map((x, i) => Math.abs(x - q.probs[i]!))
    const sum = w.reduce((a, b) => a + b, 0)
    return drawFrom({ ids: p.ids, probs: w.map(x => x / sum) }, u())
  }
  for (const biased of [fromP, pointMass, noClamp]) assert.ok(chiSquare(outcomes(biased, n, 7), P.probs, n) > CHI2_5_DOF * 3)
})

test('the residual is max(0, p − q) normalized, and undefined where p = q', () => {
  const r = residual(P, Q)!
  assert.deepEqual(r.ids, [0, 1, 3])
  assert.ok(Math.abs(r.probs.reduce((a, b) => a + b, 0) - 1) < 1e-12)
  assert.ok(Math.abs(r.probs[0]! - 0.3 / (0.3 + 0.15 + 0.02)) < 1e-12)
  assert.equal(residual(P, P), undefined)
})

// ---- a toy model: the next token's distribution depends on the last token only (a Markov chain)

const TARGET = [
  [0.3, 0.3, 0.1, 0.1, 0.1, 0.1], [0.05, 0.05, 0.4, 0.3, 0.1, 0.1], [0.2, 0.2, 0.2, 0.2, 0.1, 0.1],
  [0.6, 0.1, 0.1, 0.1, 0.05, 0.05], [0.1, 0.1, 0.1, 0.1, 0.3, 0.3], [0.25, 0.05, 0.05, 0.3, 0.3, 0.05]
]
const DRAFT = [
  [0.1, 0.5, 0.1, 0.1, 0.1, 0.1], [0.2, 0.2, 0.2, 0.2, 0.1, 0.1], [0.05, 0.05, 0.6, 0.1, 0.1, 0.1],
  [0.4, 0.2, 0.1, 0.1, 0.1, 0.1], [0.3, 0.1, 0.1, 0.1, 0.2, 0.2], [0.1, 0.1, 0.1, 0.5, 0.1, 0.1]
]

/** Rows of one-hot hidden states (n, V) → the argmax of each. */
const rowsOf = (hidden: Float32Array): number[] => Array.from({ length: hidden.length / V }, (_, r) => {
  let best = 0
  for (let i = 1; i < V; i++) if (hidden[r * V + i]! > hidden[r * V + best]!) best = i
  return best
})

function toyPipeline (): { config: ModelConfig, ends: ModelEnds, executors: SpanExecutor[], tokenizer: Tokenizer } {
  const config = { vocabSize: V, dim: V, contextLength: 16, nLayers: 1 } as unknown as ModelConfig
  const ends = {
    embed: (ids: readonly number[]) => { const h = new Float32Array(ids.length * V); ids.forEach((id, r) => { h[r * V + id] = 1 }); return h },
    logits: (hidden: Float32Array) => Float32Array.from(rowsOf(hidden).flatMap(t => TARGET[t]!.map(Math.log)))
  } as unknown as ModelEnds
  const executor: SpanExecutor = {
    modelId: 'toy',
    start: 0,
    end: 1,
    open: async (sessionId, { maxLength }) => {
      const s: SpanSession & { length: number } = {
        sessionId, maxLength, length: 0,
        forward: async (hidden, positions) => { assert.equal(positions[0], s.length); s.length += positions.length; return hidden },
        rollback: async to => { assert.ok(to <= s.length); s.length = to },
        close: async () => {}
      }
      return s
    }
  }
  const tokenizer = {
    vocabSize: V, bos: undefined, eos: new Set<number>(), addBos: false, stripLeadingSpace: false,
    encode: () => [], tokenBytes: (id: number) => Uint8Array.of(97 + id), piece: (id: number) => String.fromCharCode(97 + id)
  } as unknown as Tokenizer
  return { config, ends, executors: [executor], tokenizer }
}

/** Drafts by sampling the DRAFT chain, reporting the distributions it drew from. */
function markovDrafter (seed: number): DraftSource {
  const rng = new Prng(seed)
  const drafter: Drafter = {
    draft: async (history, k): Promise<Draft> => {
      const tokens: number[] = []
      const dists: Distribution[] = []
      let last = history[history.length - 1]!
      for (let i = 0; i < k; i++) {
        const q = dist(DRAFT[last]!)
        last = drawFrom(q, rng.next())
        tokens.push(last)
        dists.push(q)
      }
      return { tokens, dists }
    }
  }
  return { name: 'markov', open: async () => drafter }
}

test('speculative generations sampled through a toy model follow its distribution (pairs of tokens, chi-square)', async () => {
  const pipeline = toyPipeline()
  const n = 12_000
  const counts = new Array<number>(V * V).fill(0)
  let drafted = 0
  let accepted = 0
  const sampling = { temperature: 1, topK: 0, topP: 1, minP: 0 }
  for (let i = 0; i < n; i++) {
    const gen = new Generation(pipeline, [0], { ...sampling, seed: i + 1, maxTokens: 3, speculate: { k: 2, drafter: markovDrafter(1_000_003 * (i + 1)) } })
    const ids: number[] = []
    for await (const t of gen) ids.push(t.id)
    counts[ids[0]! * V + ids[1]!]!++
    drafted += gen.speculation!.drafted
    accepted += gen.speculation!.accepted
  }
  const expected = Array.from({ length: V * V }, (_, c) => TARGET[0]![Math.floor(c / V)]! * TARGET[Math.floor(c / V)]![c % V]!)
  const x2 = chiSquare(counts, expected, n)
  assert.ok(x2 < CHI2_35_DOF, `chi-square ${x2.toFixed(1)} over ${n} generations`)
  // both of the rule's ways were taken
  assert.ok(accepted > 0.2 * drafted && accepted < 0.8 * drafted, `${accepted} of ${drafted} drafts kept`)
})

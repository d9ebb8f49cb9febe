/**
 * Picks the next token from logits. The order follows llama.cpp's default chain: repetition
 * penalty (then OpenAI's presence and frequency penalties), top-k, top-p, min-p, temperature, then
 * a draw from a seeded PRNG. Temperature 0 is greedy (the first maximum wins, as in llama2.c).
 * The generation loop penalizes in place, lets a constraint mask the logits, then picks.
 */
import { InvalidArgumentError } from '../util/errors.ts'

export interface SamplerOptions {
  /** 0 = greedy; default 0.8 */
  temperature?: number
  /** keep the k most likely tokens; 0 = off; default 40 */
  topK?: number
  /** keep the smallest set whose probability reaches p; 1 = off; default 0.95 */
  topP?: number
  /** drop tokens less likely than minP × the most likely; 0 = off; default 0.05 */
  minP?: number
  /** divide positive logits (multiply negative ones) of recently seen tokens; 1 = off; default 1 */
  repeatPenalty?: number
  /** how many recent tokens the penalty looks at; default 64 */
  repeatLastN?: number
  /** OpenAI's: subtract this from the logit of every token generated at least once; -2 to 2, default 0 */
  presencePenalty?: number
  /** OpenAI's: subtract this times the count of each token generated so far; -2 to 2, default 0 */
  frequencyPenalty?: number
  /** PRNG seed; default: random */
  seed?: number
}

/** xoshiro128** seeded through splitmix32: small, fast, reproducible everywhere. */
export class Prng {
  private s = new Uint32Array(4)
  constructor (seed: number) {
    let x = seed >>> 0
    for (let i = 0; i < 4; i++) {
      x = (x + 0x9e3779b9) >>> 0
      let z = x
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0
      this.s[i] = (z ^ (z >>> 16)) >>> 0
    }
  }

  /** uniform in [0, 1) */
  next (): number {
    const s = this.s
    const result = Math.imul(rotl(Math.imul(s[1]!, 5), 7), 9) >>> 0
    const t = (s[1]! << 9) >>> 0
    s[2]! ^= s[0]!; s[3]! ^= s[1]!; s[1]! ^= s[2]!; s[0]! ^= s[3]!
    s[2]! ^= t
    s[3] = rotl(s[3]!, 11)
    return result / 2 ** 32
  }
}

function rotl (x: number, k: number): number {
  return ((x << k) | (x >>> (32 - k))) >>> 0
}

export class Sampler {
  readonly temperature: number
  readonly topK: number
  readonly topP: number
  readonly minP: number
  readonly repeatPenalty: number
  readonly repeatLastN: number
  readonly presencePenalty: number
  readonly frequencyPenalty: number
  private readonly rng: Prng
  /** how often each generated token came so far (presence and frequency penalties) */
  private readonly counts = new Map<number, number>()

  constructor (options: SamplerOptions = {}) {
    this.temperature = check('temperature', options.temperature ?? 0.8, 0, 100)
    this.topK = check('topK', options.topK ?? 40, 0, Number.MAX_SAFE_INTEGER)
    this.topP = check('topP', options.topP ?? 0.95, 0, 1)
    this.minP = check('minP', options.minP ?? 0.05, 0, 1)
    this.repeatPenalty = check('repeatPenalty', options.repeatPenalty ?? 1, 0, 100)
    this.repeatLastN = check('repeatLastN', options.repeatLastN ?? 64, 0, Number.MAX_SAFE_INTEGER)
    this.presencePenalty = check('presencePenalty', options.presencePenalty ?? 0, -2, 2)
    this.frequencyPenalty = check('frequencyPenalty', options.frequencyPenalty ?? 0, -2, 2)
    this.rng = new Prng(options.seed ?? Math.floor(Math.random() * 2 ** 32))
  }

  /** The next token given `logits` (vocabSize, left unchanged) and the tokens so far (for the repetition penalty). */
  sample (logits: Float32Array, history: readonly number[] = []): number {
    const l = this.penalizes ? logits.slice() : logits
    this.penalize(l, history)
    return this.pick(l)
  }

  private get penalizes (): boolean {
    return this.repeatPenalty !== 1 || (this.counts.size > 0 && (this.presencePenalty !== 0 || this.frequencyPenalty !== 0))
  }

  /**
   * Applies the penalties to `logits` in place: the repetition penalty over the last repeatLastN
   * tokens of `history` (prompt included, as llama.cpp), then OpenAI's presence and frequency
   * penalties over the tokens generated so far (see accept()).
   */
  penalize (logits: Float32Array, history: readonly number[]): void {
    if (this.repeatPenalty !== 1) {
      for (const id of new Set(history.slice(Math.max(0, history.length - this.repeatLastN)))) {
        const v = logits[id]
        if (v !== undefined) logits[id] = v > 0 ? v / this.repeatPenalty : v * this.repeatPenalty
      }
    }
    if (this.presencePenalty === 0 && this.frequencyPenalty === 0) return
    for (const [id, c] of this.counts) {
      if (logits[id] !== undefined) logits[id] -= c * this.frequencyPenalty + this.presencePenalty
    }
  }

  /** Counts a generated token for the presence and frequency penalties. */
  accept (id: number): void {
    if (this.presencePenalty !== 0 || this.frequencyPenalty !== 0) this.counts.set(id, (this.counts.get(id) ?? 0) + 1)
  }

  /** Draws from logits that are final (penalized, masked): greedy at temperature 0, else top-k, top-p, min-p, temperature. */
  pick (l: Float32Array): number {
    if (this.temperature === 0) return argmax(l)
    return this.draw(this.distribution(l))
  }

  /**
   * The distribution pick() draws from at a temperature above 0: the kept candidates, best first,
   * and their probabilities (summing to 1). At temperature 0 it is a point mass on the argmax.
   */
  distribution (l: Float32Array): Distribution {
    if (this.temperature === 0) return { ids: [argmax(l)], probs: [1] }
    // candidates by logit, best first (ties: lower id first); tokens at -Infinity can never be drawn
    let ids = this.topK > 0 && this.topK < l.length ? topIds(l, this.topK) : sortedIds(l)
    let probs = softmax(ids.map(i => l[i]!), 1)
    if (this.topP < 1) {
      let cum = 0
      let keep = ids.length
      for (let i = 0; i < probs.length; i++) {
        cum += probs[i]!
        if (cum >= this.topP) { keep = i + 1; break }
      }
      ids = ids.slice(0, keep)
      probs = probs.slice(0, keep)
    }
    if (this.minP > 0) {
      // probs are sorted, so everything from the first one below the floor goes
      const floor = probs[0]! * this.minP
      const cut = probs.findIndex(p => p < floor)
      if (cut > 0) ids = ids.slice(0, cut)
    }
    return { ids, probs: softmax(ids.map(i => l[i]!), this.temperature) }
  }

  /** One draw from `d` with this sampler's PRNG. */
  draw (d: Distribution): number {
    return drawFrom(d, this.rng.next())
  }

  /** Uniform in [0, 1) from this sampler's PRNG (speculative sampling's acceptance test). */
  uniform (): number {
    return this.rng.next()
  }
}

/** A distribution over token ids: `probs[i]` is the probability of `ids[i]`. */
export interface Distribution {
  readonly ids: readonly number[]
  readonly probs: readonly number[]
}

/** The id that `r` (uniform in [0, 1)) falls on, walking the distribution in order. */
export function drawFrom (d: Distribution, r: number): number {
  for (let i = 0; i < d.ids.length; i++) {
    r -= d.probs[i]!
    if (r < 0) return d.ids[i]!
  }
  return d.ids[d.ids.length - 1]!
}

/** Ids of the finite logits, best first (stable: ties keep id order). */
function sortedIds (l: Float32Array): number[] {
  const ids: number[] = []
  for (let i = 0; i < l.length; i++) if (l[i]! > -Infinity) ids.push(i)
  if (ids.length === 0) return [argmax(l)]
  return ids.sort((a, b) => l[b]! - l[a]! || a - b)
}

/** The k best ids, best first, as a stable full sort would order them. */
export function topIds (l: Float32Array, k: number): number[] {
  const best: number[] = [] // sorted, best first, at most k
  for (let i = 0; i < l.length; i++) {
    const v = l[i]!
    if (v === -Infinity || (best.length === k && v <= l[best[k - 1]!]!)) continue
    let at = best.length
    while (at > 0 && l[best[at - 1]!]! < v) at--
    best.splice(at, 0, i)
    if (best.length > k) best.pop()
  }
  return best.length > 0 ? best : [argmax(l)]
}

export function argmax (x: Float32Array): number {
  let best = 0
  for (let i = 1; i < x.length; i++) if (x[i]! > x[best]!) best = i
  return best
}

function softmax (logits: number[], temperature: number): number[] {
  let max = -Infinity
  for (const v of logits) if (v > max) max = v
  const e = logits.map(v => Math.exp((v - max) / temperature))
  const sum = e.reduce((a, b) => a + b, 0)
  return e.map(v => v / sum)
}

function check (name: string, v: number, min: number, max: number): number {
  if (typeof v !== 'number' || Number.isNaN(v) || v < min || v > max) throw new InvalidArgumentError(`${name} must be between ${min} and ${max}, got ${v}`)
  return v
}

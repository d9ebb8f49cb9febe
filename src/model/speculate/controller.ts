/**
 * How many tokens to draft next. Fixed: always k. Auto: the k in [0, maxK] (default EXACT_DRAFT) that maximizes expected
 * tokens per second, from what was measured so far:
 * - α, the chance a draft token is kept (given the ones before it were), from the rounds' counts;
 * - a step's time as a + b·rows (a: the round trip and fixed costs, b: each extra row), fitted to
 *   the steps' measured times, and the drafter's time per drafted token.
 * With k drafts a round yields (1 − α^(k+1)) / (1 − α) tokens on average and takes
 * a + b·(k + 1) + draft·k; over a WAN a is large, so k grows with the round trip and with α.
 * While k = 0 looks best it still tries k = 1 now and then, so a change in α is noticed.
 */
import { InvalidArgumentError } from '../../util/errors.ts'

export const MAX_DRAFT = 8

/**
 * The longest draft 'auto' sends unless told otherwise: a step of at most 3 rows, which the kernels
 * compute row by row just as they decode one token (the wasm kernels take their multi-row paths
 * from 4 rows on, and those round differently: in the last bits for f32 weights, by hundredths in
 * the logits for quantized ones), so greedy output stays bit for bit that of plain decoding.
 * Longer drafts (a larger maxK, or a fixed k of 3 or more) pay the round trip less often, and a
 * greedy near-tie may then break the other way.
 */
export const EXACT_DRAFT = 2

export type SpeculateK = number | 'auto'

export function checkK (k: SpeculateK): SpeculateK {
  if (k === 'auto') return k
  if (!Number.isInteger(k) || k < 1 || k > MAX_DRAFT) throw new InvalidArgumentError(`speculate must be off, auto or a whole number from 1 to ${MAX_DRAFT}, got ${String(k)}`)
  return k
}

/** Exponentially decayed sums: recent rounds count most. */
const DECAY = 0.95

export class DraftController {
  /** draft tokens kept and rejections (decayed), with a prior of α = 0.5 worth two drafts */
  private kept = 1
  private rejected = 1
  /** decayed sums for the fit of step time against rows */
  private w = 0
  private sx = 0
  private sy = 0
  private sxx = 0
  private sxy = 0
  private draftSeconds = 0
  private draftTokens = 0
  private rounds = 0
  /** totals, for reports */
  proposed = 0
  accepted = 0

  constructor (readonly k: SpeculateK, readonly maxK = EXACT_DRAFT) {
    checkK(k)
    checkK(maxK)
  }

  /** The estimated chance that a draft token is kept. */
  get alpha (): number {
    return this.kept / (this.kept + this.rejected)
  }

  /** The draft length for the next round (before the drafter may return fewer). */
  next (): number {
    if (this.k !== 'auto') return this.k
    this.rounds++
    const fit = this.fit()
    if (fit === undefined) return 2 // nothing measured yet
    const { a, b } = fit
    const alpha = Math.min(this.alpha, 0.999)
    const perDraft = this.draftTokens > 0 ? this.draftSeconds / this.draftTokens : 0
    let best = 0
    let bestRate = 1 / (a + b)
    for (let k = 1; k <= this.maxK; k++) {
      const tokens = (1 - alpha ** (k + 1)) / (1 - alpha)
      const rate = tokens / (a + b * (k + 1) + perDraft * k)
      if (rate > bestRate) { best = k; bestRate = rate }
    }
    return best === 0 && this.rounds % 16 === 0 ? 1 : best
  }

  /** A round: `drafted` tokens were proposed, the first `kept` of them taken. */
  observeAcceptance (drafted: number, kept: number): void {
    if (drafted === 0) return
    this.proposed += drafted
    this.accepted += kept
    this.kept = this.kept * DECAY + kept
    this.rejected = this.rejected * DECAY + (kept < drafted ? 1 : 0)
  }

  /** A step of `rows` rows took `seconds`. */
  observeStep (rows: number, seconds: number): void {
    this.w = this.w * DECAY + 1
    this.sx = this.sx * DECAY + rows
    this.sy = this.sy * DECAY + seconds
    this.sxx = this.sxx * DECAY + rows * rows
    this.sxy = this.sxy * DECAY + rows * seconds
  }

  /** The drafter took `seconds` for `tokens` tokens. */
  observeDraft (tokens: number, seconds: number): void {
    this.draftTokens = this.draftTokens * DECAY + tokens
    this.draftSeconds = this.draftSeconds * DECAY + seconds
  }

  /** Step time ≈ a + b·rows; with one row count seen so far, b is taken as a tenth of a row's share. */
  private fit (): { a: number, b: number } | undefined {
    if (this.w === 0) return undefined
    const mx = this.sx / this.w
    const my = this.sy / this.w
    const varX = this.sxx / this.w - mx * mx
    let b = varX > 0.05 ? (this.sxy / this.w - mx * my) / varX : my / Math.max(1, mx) / 10
    b = Math.max(0, Math.min(b, my / Math.max(1, mx)))
    const a = Math.max(1e-6, my - b * mx)
    return { a, b }
  }
}

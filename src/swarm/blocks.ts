/**
 * Which blocks a server takes (`--blocks auto`), as pure functions of what the swarm announced.
 * A block's throughput is the sum of the throughputs of the servers covering it; the swarm is as
 * fast as its weakest block. A joining server takes the span that most raises the weakest blocks;
 * a serving one moves only if that makes the weakest block clearly faster (by 1 / balanceQuality)
 * and leaves no block uncovered that is covered now.
 */
import { InvalidArgumentError } from '../util/errors.ts'

export interface SpanLoad {
  readonly start: number
  readonly end: number
  /** tokens per second through the span */
  readonly throughput: number
}

export const BALANCE_QUALITY = 0.75

/** Per-block throughput: (nBlocks). */
export function blockThroughputs (nBlocks: number, spans: readonly SpanLoad[]): Float64Array {
  const out = new Float64Array(nBlocks)
  for (const s of spans) for (let b = Math.max(0, s.start); b < Math.min(nBlocks, s.end); b++) out[b]! += s.throughput
  return out
}

/** Compares ascending-sorted vectors lexicographically (bigger = the weak blocks are stronger). */
function compareSorted (a: Float64Array, b: Float64Array): number {
  const sa = a.slice().sort()
  const sb = b.slice().sort()
  for (let i = 0; i < sa.length; i++) if (sa[i] !== sb[i]) return sa[i]! - sb[i]!
  return 0
}

/** The start of the `length`-block span that best reinforces the weakest blocks (ties: lowest start). */
export function chooseStart (nBlocks: number, length: number, throughput: number, others: readonly SpanLoad[]): number {
  if (!(Number.isInteger(length) && length >= 1 && length <= nBlocks)) throw new InvalidArgumentError(`cannot take ${length} of ${nBlocks} blocks`)
  const base = blockThroughputs(nBlocks, others)
  let best = 0
  let bestTp: Float64Array | undefined
  for (let s = 0; s + length <= nBlocks; s++) {
    const tp = base.slice()
    for (let b = s; b < s + length; b++) tp[b]! += throughput
    if (bestTp === undefined || compareSorted(tp, bestTp) > 0) { best = s; bestTp = tp }
  }
  return best
}

export interface MoveDecision {
  readonly move: boolean
  readonly start: number
  /** weakest block throughput now, and after the move */
  readonly minNow: number
  readonly minAfter: number
}

/** Should a server serving `self` move, given the other servers? */
export function rebalance (nBlocks: number, self: SpanLoad, others: readonly SpanLoad[], balanceQuality = BALANCE_QUALITY): MoveDecision {
  const length = self.end - self.start
  const now = blockThroughputs(nBlocks, [...others, self])
  const start = chooseStart(nBlocks, length, self.throughput, others)
  const after = blockThroughputs(nBlocks, [...others, { ...self, start, end: start + length }])
  const minNow = Math.min(...now)
  const minAfter = Math.min(...after)
  const uncovers = now.some((tp, b) => tp > 0 && after[b] === 0)
  const move = start !== self.start && !uncovers && minAfter > 0 && minNow < balanceQuality * minAfter
  return { move, start, minNow, minAfter }
}

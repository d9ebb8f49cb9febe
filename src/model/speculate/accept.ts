/**
 * Speculative sampling's rule (Leviathan et al. 2023; Chen et al. 2023): a draft token d drawn from
 * q is kept with probability min(1, p(d) / q(d)); otherwise the token is drawn from the residual
 * max(0, p − q), normalized. Whatever q is, the token that comes out is distributed as p, the
 * target's own distribution. A point-mass draft (q(d) = 1) is kept with probability p(d), and the
 * residual is p without d: the same as drawing from p and comparing, which is what generate.ts
 * does for such drafts (so their output is the non-speculative output, draw for draw).
 */
import { type Distribution, drawFrom } from '../sampler.ts'

/** The probability of `id` under `d` (0 if it is not among its ids). */
export function probOf (d: Distribution, id: number): number {
  const i = d.ids.indexOf(id)
  return i < 0 ? 0 : d.probs[i]!
}

/** max(0, p − q) normalized, or undefined where it is zero everywhere (p = q). */
export function residual (p: Distribution, q: Distribution): Distribution | undefined {
  const ids: number[] = []
  const weights: number[] = []
  let sum = 0
  p.ids.forEach((id, i) => {
    const w = p.probs[i]! - probOf(q, id)
    if (w > 0) { ids.push(id); weights.push(w); sum += w }
  })
  if (!(sum > 0)) return undefined
  return { ids, probs: weights.map(w => w / sum) }
}

/**
 * The token for this position given the target's distribution `p`, a draft token `d` drawn from
 * `q`, and uniform draws in [0, 1). Returns `d` if it is kept.
 */
export function verifyDraft (p: Distribution, d: number, q: Distribution, uniform: () => number): number {
  const pd = probOf(p, d)
  const qd = probOf(q, d)
  if (qd > 0 && uniform() * qd < pd) return d
  return drawFrom(residual(p, q) ?? p, uniform())
}

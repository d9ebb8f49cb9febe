/**
 * Log-probabilities of a sampled token and of the most likely alternatives: the log-softmax of the
 * logits the sampler drew from (penalties applied, masked tokens at -Infinity), at the sampling
 * temperature (1 when greedy), as OpenAI documents its `logprobs`.
 */
import { topIds } from './sampler.ts'

export interface TopLogprob {
  readonly id: number
  readonly logprob: number
}

export interface TokenLogprob extends TopLogprob {
  /** the `top` most likely tokens, most likely first */
  readonly top: readonly TopLogprob[]
}

/** The most alternatives a request may ask for (OpenAI's limit). */
export const MAX_TOP_LOGPROBS = 20

export function tokenLogprob (logits: Float32Array, temperature: number, id: number, top: number): TokenLogprob {
  const t = temperature > 0 ? temperature : 1
  let max = -Infinity
  for (let i = 0; i < logits.length; i++) if (logits[i]! > max) max = logits[i]!
  let sum = 0
  for (let i = 0; i < logits.length; i++) sum += Math.exp((logits[i]! - max) / t)
  const norm = max / t + Math.log(sum)
  const lp = (i: number): number => logits[i]! / t - norm
  return {
    id,
    logprob: lp(id),
    top: top > 0 ? topIds(logits, Math.min(top, MAX_TOP_LOGPROBS)).map(i => ({ id: i, logprob: lp(i) })) : []
  }
}

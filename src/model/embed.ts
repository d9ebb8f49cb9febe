/**
 * Embeddings: a text's tokens through every span, the final norm of each position, mean-pooled and
 * L2-normalised to one vector of `dim` values. The same spans as generation, so a swarm model
 * embeds on the swarm.
 */
import { ContextOverflowError, InvalidArgumentError } from '../util/errors.ts'
import { closeAll, forwardTokens, openSessions, type Pipeline } from './prefill.ts'
import { randomId } from '../util/bytes.ts'

export async function embed (pipeline: Pipeline, ids: readonly number[], options: { signal?: AbortSignal } = {}): Promise<Float32Array> {
  const { dim, contextLength } = pipeline.config
  if (ids.length === 0) throw new InvalidArgumentError('cannot embed an empty input')
  if (ids.length > contextLength) throw new ContextOverflowError(`the input is ${ids.length} tokens; the model's context holds ${contextLength}`)
  const sum = new Float64Array(dim)
  const sessions = await openSessions(pipeline, randomId(), ids.length, options.signal)
  try {
    await forwardTokens(pipeline, sessions, ids, 0, options.signal, async hidden => {
      const normed = await pipeline.ends.normed(hidden) // (rows, dim)
      for (let i = 0; i < normed.length; i++) sum[i % dim] += normed[i]!
    })
  } finally {
    await closeAll(sessions)
  }
  let norm = 0
  for (const v of sum) norm += v * v
  norm = Math.sqrt(norm) || 1
  return Float32Array.from(sum, v => v / norm)
}

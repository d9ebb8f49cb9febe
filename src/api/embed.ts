/**
 * Embeddings for the OpenAI and Ollama routes: a batch of inputs (texts or token ids) in one
 * limiter slot, each checked by length before it is tokenized, cancelled when the client leaves.
 */
import type { Context } from 'hono'
import { setImmediate as nextTurn } from 'node:timers/promises'
import { AbortError, ContextOverflowError, InvalidArgumentError } from '../util/errors.ts'
import type { ApiContext } from './context.ts'
import type { ServedModel } from './engine.ts'
import { encodePrompt } from './prompt.ts'

/** Inputs per request at most (OpenAI's limit). */
export const MAX_EMBED_INPUTS = 2048

export interface Embedded {
  readonly vectors: Float32Array[]
  readonly tokens: number
}

/** A string, a list of strings, a list of token ids, or a list of such lists. */
export function readEmbedInput (value: unknown, param = 'input'): Array<string | number[]> {
  const isIds = (v: unknown): v is number[] => Array.isArray(v) && v.length > 0 && v.every(t => Number.isInteger(t) && t >= 0)
  let list: unknown[]
  if (typeof value === 'string' || isIds(value)) list = [value]
  else if (Array.isArray(value) && value.length > 0) list = value
  else throw new InvalidArgumentError(`${param} must be a string, a list of strings, token ids, or a list of token-id lists`, { param })
  if (list.length > MAX_EMBED_INPUTS) throw new InvalidArgumentError(`${param} has ${list.length} items; at most ${MAX_EMBED_INPUTS}`, { param })
  return list.map((v, i) => {
    if (typeof v === 'string' && v !== '') return v
    if (isIds(v)) return v
    throw new InvalidArgumentError(`${param}[${i}] must be a non-empty string or a non-empty list of token ids`, { param: `${param}[${i}]` })
  })
}

export async function embedInputs (c: Context, ctx: ApiContext, model: ServedModel, inputs: ReadonlyArray<string | number[]>): Promise<Embedded> {
  const controller = new AbortController()
  const client = c.req.raw.signal
  const onAbort = (): void => controller.abort(new AbortError('the client disconnected'))
  if (client.aborted) onAbort()
  else client.addEventListener('abort', onAbort, { once: true })
  ctx.inflight.add(controller)
  const { signal } = controller
  const release = await ctx.limiter.acquire({ signal }).catch(err => { ctx.inflight.delete(controller); throw err })
  try {
    const vectors: Float32Array[] = []
    let tokens = 0
    for (const input of inputs) {
      const ids = typeof input === 'string' ? await encodePrompt(model, input, { signal }) : input
      if (ids.length > model.config.contextLength) {
        throw new ContextOverflowError(`an input is ${ids.length} tokens; the model's context holds ${model.config.contextLength}`)
      }
      vectors.push(await model.embed(ids, { signal }))
      tokens += ids.length
      await nextTurn()
    }
    ctx.metrics.promptTokens += tokens
    return { vectors, tokens }
  } finally {
    release()
    client.removeEventListener('abort', onAbort)
    ctx.inflight.delete(controller)
  }
}

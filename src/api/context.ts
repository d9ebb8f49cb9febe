/** What every route needs, and the request plumbing they share. */
import type { Context } from 'hono'
import { InvalidArgumentError } from '../util/errors.ts'
import type { Engine } from './engine.ts'
import type { JobContext } from './job.ts'

export interface ApiContext extends JobContext {
  readonly engine: Engine
  /** the abort controllers of requests in flight; shutting down aborts them all */
  readonly inflight: Set<AbortController>
  /** gridllm's version (/api/version) */
  readonly version: string
}

/** The request body as JSON; malformed JSON is a 400. */
export async function jsonBody (c: Context): Promise<unknown> {
  try {
    return await c.req.json()
  } catch (err) {
    throw new InvalidArgumentError(`the request body is not valid JSON: ${(err as Error).message}`, { cause: err })
  }
}

/** Unix seconds, as OpenAI's `created`. */
export function unixNow (): number {
  return Math.floor(Date.now() / 1000)
}

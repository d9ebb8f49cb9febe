/** What every route needs, and the request plumbing they share. */
import type { Context } from 'hono'
import { AbortError, InvalidArgumentError } from '../util/errors.ts'
import type { Engine } from './engine.ts'
import type { JobContext } from './job.ts'

export interface ApiContext extends JobContext {
  readonly engine: Engine
  /** the abort controllers of requests in flight; shutting down aborts them all */
  readonly inflight: Set<AbortController>
}

/** The request body as JSON; malformed JSON is a 400. */
export async function jsonBody (c: Context): Promise<unknown> {
  try {
    return await c.req.json()
  } catch (err) {
    throw new InvalidArgumentError(`the request body is not valid JSON: ${(err as Error).message}`, { cause: err })
  }
}

/**
 * One request's cancellation: it fires when the client goes away (the adapter aborts the request's
 * signal when the connection closes early; streaming routes call clientLeft() when the response
 * stream is cancelled) or when the server shuts down. Call done() when the request is over.
 */
export class RequestScope {
  private readonly controller = new AbortController()
  private left = false

  constructor (c: Context, private readonly ctx: ApiContext) {
    const client = c.req.raw.signal
    if (client.aborted) this.clientLeft()
    else client.addEventListener('abort', () => this.clientLeft(), { once: true })
    ctx.inflight.add(this.controller)
  }

  get signal (): AbortSignal {
    return this.controller.signal
  }

  /** Nobody is listening any more: nothing more is worth sending. */
  get gone (): boolean {
    return this.left
  }

  clientLeft (): void {
    this.left = true
    if (!this.controller.signal.aborted) this.controller.abort(new AbortError('the client disconnected'))
  }

  done (): void {
    this.ctx.inflight.delete(this.controller)
  }
}

/** Unix seconds, as OpenAI's `created`. */
export function unixNow (): number {
  return Math.floor(Date.now() / 1000)
}

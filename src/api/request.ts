/**
 * One generation request from admission to its last byte: its cancellation (the client leaving or
 * the server shutting down), its job, and the two ways of answering, whole or streamed. The
 * OpenAI and Ollama routes differ only in the frames they write.
 */
import type { Context } from 'hono'
import type { GenerateOptions } from '../model/index.ts'
import { AbortError } from '../util/errors.ts'
import type { ApiContext } from './context.ts'
import type { ServedModel } from './engine.ts'
import { type Job, type JobEvent, type Prompt, startJob } from './job.ts'

export interface StreamFrames {
  /** frames before the first token */
  start?: string[]
  /** the frames for a token of a choice (none while its text is held back) */
  token: (event: JobEvent) => string[]
  /** the frames that close a stream that ran to its end */
  end: (job: Job) => string[]
  /** the frame for an error after the stream began (its status is sent already) */
  error: (err: unknown) => string
}

export class GenerationRequest {
  private readonly controller = new AbortController()
  private clientGone = false
  /** set by admit(), the only way to make one */
  job!: Job
  /** the job's events, once begin() started them, and the first one */
  private events: AsyncIterator<JobEvent> | undefined
  private first: IteratorResult<JobEvent> | undefined

  private constructor (c: Context, private readonly ctx: ApiContext) {
    const client = c.req.raw.signal
    if (client.aborted) this.clientLeft()
    else client.addEventListener('abort', () => this.clientLeft(), { once: true })
    ctx.inflight.add(this.controller)
  }

  /**
   * Waits for a slot and starts the generation. It is cancelled when the client disconnects (the
   * adapter aborts the request's signal when the connection closes early) or the server shuts down.
   */
  static async admit (c: Context, ctx: ApiContext, model: ServedModel, prompt: Prompt, options: GenerateOptions, n = 1): Promise<GenerationRequest> {
    const request = new GenerationRequest(c, ctx)
    try {
      request.job = await startJob(ctx, model, prompt, options, n, request.controller.signal)
    } catch (err) {
      ctx.inflight.delete(request.controller)
      throw err
    }
    return request
  }

  /** The response stream was cancelled: nobody is listening any more. */
  clientLeft (): void {
    this.clientGone = true
    if (!this.controller.signal.aborted) this.controller.abort(new AbortError('the client disconnected'))
  }

  private done (): void {
    this.job.close()
    this.ctx.inflight.delete(this.controller)
  }

  /** Runs every choice to the end, calling `onToken` for each token; returns the texts. */
  async collect (onToken?: (event: JobEvent) => void): Promise<string[]> {
    try {
      for await (const event of this.job.events()) onToken?.(event)
      return this.job.texts
    } finally {
      this.done()
    }
  }

  /**
   * Runs the generation up to its first token (or its end) before a streamed answer sends
   * its status, so that a request failing before that (no route to a span, a full swarm) gets its
   * own HTTP status and error body rather than 200 and then an error frame.
   */
  async begin (): Promise<void> {
    this.events = this.job.events()
    try {
      this.first = await this.events.next()
    } catch (err) {
      this.done()
      throw err
    }
  }

  /** Writes the frames of each token, then the closing frames, or an error frame if it fails midway. */
  async stream (write: (frame: string) => Promise<void>, frames: StreamFrames): Promise<void> {
    try {
      for (const frame of frames.start ?? []) await write(frame)
      // when the client leaves, the generation throws AbortError at its next step
      const events = this.events ?? this.job.events()
      for (let r = this.first ?? await events.next(); r.done !== true; r = await events.next()) for (const frame of frames.token(r.value)) await write(frame)
      for (const frame of frames.end(this.job)) await write(frame)
    } catch (err) {
      if (!this.clientGone) await write(frames.error(err))
    } finally {
      this.done()
    }
  }
}

/**
 * The layers one server holds, [start, end), served to sessions over any sub-range of them. Views
 * over sub-ranges share the weights; one KV-cache budget covers every session of every view.
 */
import type { Backend } from '../kernels/index.ts'
import { type BatchOptions, type LoadedWeights, LocalSpanExecutor, type ModelConfig, type ModelSource, type SpanSession, cacheBytesPerToken, freeWeights, loadWeights } from '../model/index.ts'
import { CAPACITY_RETRY_MS, type SpanHost } from '../net/index.ts'
import { CacheBudgetError, InvalidArgumentError, ServeError, throwIfAborted } from '../util/errors.ts'

export interface ServedSpanOptions {
  start: number
  end: number
  /** the model id, when already known (saves hashing the whole file again) */
  modelId?: string
  /** bytes of KV cache all sessions together may take; default 1 GiB */
  cacheBudgetBytes?: number
  /** how concurrent sessions' steps are gathered into one forward */
  batch?: BatchOptions
  signal?: AbortSignal
  onProgress?: (bytesDone: number, bytesTotal: number) => void
}

export class ServedSpan implements SpanHost {
  readonly dim: number
  readonly cacheBudgetBytes: number
  private readonly views = new Map<string, LocalSpanExecutor>()
  private reserved = 0
  private sessions = 0
  private retired = false
  private closed = false

  private constructor (readonly config: ModelConfig, private readonly backend: Backend, private readonly weights: LoadedWeights,
    readonly modelId: string, readonly start: number, readonly end: number, cacheBudgetBytes: number, private readonly batch?: BatchOptions) {
    this.dim = config.dim
    this.cacheBudgetBytes = cacheBudgetBytes
  }

  static async load (source: ModelSource, backend: Backend, options: ServedSpanOptions): Promise<ServedSpan> {
    const { start, end } = options
    if (!(Number.isInteger(start) && Number.isInteger(end) && start >= 0 && start < end && end <= source.config.nLayers)) {
      throw new InvalidArgumentError(`blocks ${start}:${end} are not a span of the model's ${source.config.nLayers} blocks`)
    }
    const weights = await loadWeights(source, backend, { start, end, hash: options.modelId === undefined, signal: options.signal, onProgress: options.onProgress })
    return new ServedSpan(source.config, backend, weights, options.modelId ?? weights.modelId!, start, end, options.cacheBudgetBytes ?? 2 ** 30, options.batch)
  }

  /** Tokens of cache (over the whole span) new sessions can still get. */
  get freeCacheTokens (): number {
    return Math.max(0, Math.floor((this.cacheBudgetBytes - this.reserved) / cacheBytesPerToken(this.config, this.end - this.start)))
  }

  get openSessions (): number {
    return this.sessions
  }

  cacheBytes (start: number, end: number, maxLength: number): number {
    return Math.max(0, maxLength) * cacheBytesPerToken(this.config, Math.max(0, end - start))
  }

  /** Reserves the session's cache before its first await, so concurrent opens cannot overbook. */
  async open (sessionId: string, start: number, end: number, maxLength: number): Promise<SpanSession> {
    if (this.retired) throw new ServeError('SPAN_NOT_SERVED', `this server no longer serves blocks ${this.start}:${this.end}`)
    if (!(Number.isInteger(start) && Number.isInteger(end) && this.start <= start && start < end && end <= this.end)) {
      throw new ServeError('SPAN_NOT_SERVED', `this server serves blocks ${this.start}:${this.end}, not ${start}:${end}`)
    }
    if (!Number.isInteger(maxLength) || maxLength <= 0) throw new InvalidArgumentError(`maxLength must be a positive integer, got ${maxLength}`)
    const bytes = this.cacheBytes(start, end, maxLength)
    if (this.reserved + bytes > this.cacheBudgetBytes) {
      throw new CacheBudgetError(`a ${maxLength}-token session over ${end - start} blocks needs ${bytes} bytes of cache; ${this.cacheBudgetBytes - this.reserved} are free`, { retryAfterMs: CAPACITY_RETRY_MS })
    }
    this.reserved += bytes
    this.sessions++
    let inner: SpanSession
    try {
      inner = await this.view(start, end).open(sessionId, { maxLength })
    } catch (err) {
      this.reserved -= bytes
      this.sessions--
      throw err
    }
    let released = false
    const release = (): void => {
      if (released) return
      released = true
      this.reserved -= bytes
      this.sessions--
      if (this.retired && this.sessions === 0) this.close()
    }
    return {
      sessionId,
      get length () { return inner.length },
      get maxLength () { return inner.maxLength },
      forward: async (hidden, positions, options) => await inner.forward(hidden, positions, options),
      rollback: async (to, options) => { await inner.rollback(to, options) },
      close: async () => { await inner.close(); release() }
    }
  }

  /** Single-token steps per second through the whole span, measured for about `seconds`. */
  async benchmark (options: { seconds?: number, signal?: AbortSignal } = {}): Promise<number> {
    const maxSteps = 64
    const session = await this.view(this.start, this.end).open(`benchmark-${Math.random()}`, { maxLength: maxSteps + 1 })
    try {
      const hidden = Float32Array.from({ length: this.dim }, (_, i) => Math.sin(i)) // (1, dim)
      await session.forward(hidden, [0]) // warm-up
      const t0 = performance.now()
      let steps = 0
      while (steps < maxSteps && (steps < 2 || performance.now() - t0 < (options.seconds ?? 1) * 1000)) {
        throwIfAborted(options.signal)
        await session.forward(hidden, [session.length])
        steps++
      }
      return steps / ((performance.now() - t0) / 1000)
    } finally {
      await session.close()
    }
  }

  /** Stops taking sessions; frees the weights once the last open one closes. */
  retire (): void {
    this.retired = true
    if (this.sessions === 0) this.close()
  }

  /** Frees everything now (open sessions are cut off). */
  close (): void {
    if (this.closed) return
    this.closed = true
    for (const v of this.views.values()) void v.close()
    freeWeights(this.backend, this.weights)
  }

  private view (start: number, end: number): LocalSpanExecutor {
    const key = `${start}:${end}`
    let v = this.views.get(key)
    if (v === undefined) {
      const layers = this.weights.layers.slice(start - this.start, end - this.start)
      v = new LocalSpanExecutor(this.config, this.backend, { layers, ends: undefined, modelId: this.modelId },
        { start, end, modelId: this.modelId, cacheBudgetBytes: Number.MAX_SAFE_INTEGER, ownsWeights: false, batch: this.batch })
      this.views.set(key, v)
    }
    return v
  }
}

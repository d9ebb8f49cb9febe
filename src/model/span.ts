/**
 * SpanExecutor: whatever runs layers [start, end) of a model for many sessions, locally or on a
 * remote peer. A SpanSession owns one sequence's KV cache on that span.
 */
import type { Backend } from '../kernels/index.ts'
import { CacheBudgetError, ContextOverflowError, InvalidArgumentError, SessionError, ShapeMismatchError, throwIfAborted } from '../util/errors.ts'
import { logger } from '../util/log.ts'
import type { ModelConfig } from './config.ts'
import { type BatchOptions, StepBatcher, type StepCost } from './batcher.ts'
import { DEFAULT_MAX_CHUNK, SpanForward } from './forward.ts'
import { type KvCache, allocKvCache, cacheBytesPerToken, freeKvCache } from './kv-cache.ts'
import type { ModelSource } from './source.ts'
import { type LoadedWeights, freeWeights, loadWeights } from './weights.ts'

const log = logger('model:span')

export interface SpanSession {
  readonly sessionId: string
  /** tokens in the cache; the next forward must start at this position */
  readonly length: number
  readonly maxLength: number
  /** hidden (nTokens, dim) at `positions` (consecutive, from `length`) → output hidden (nTokens, dim) */
  forward (hidden: Float32Array, positions: ArrayLike<number>, options?: ForwardOptions): Promise<Float32Array>
  /** Drops cached positions >= toPosition. */
  rollback (toPosition: number, options?: { signal?: AbortSignal }): Promise<void>
  /**
   * A new session holding a copy of this one's cache (same length and maxLength), so several
   * continuations of one prompt share its prefill. Optional: without it a caller recomputes.
   */
  fork? (sessionId: string, options?: { signal?: AbortSignal }): Promise<SpanSession>
  close (): Promise<void>
  /** what verification did for this session, where there is any (remote executors) */
  verification? (): VerificationReport | undefined
}

/** Audits of one session's work, and how many failed. */
export interface VerificationReport {
  readonly audits: number
  readonly failures: number
}

export interface ForwardOptions {
  signal?: AbortSignal
  /** told what computing the step cost (local executors: its share of a batched forward) */
  onCost?: (cost: StepCost) => void
}

export interface OpenOptions {
  /** the most tokens this session will hold */
  maxLength: number
  signal?: AbortSignal
}

/** Live counters an executor may report (for metrics). */
export interface ExecutorStats {
  /** sessions holding KV cache right now */
  readonly openSessions: number
  /** hops between spans timed so far, and their total time (remote executors) */
  readonly hops?: { readonly count: number, readonly sumSeconds: number }
  /** routes taken so far, by why (remote executors): a first route, a failover, a fall back to relaying */
  readonly routes?: Readonly<Record<RouteReason, number>>
  /** audits by result, and convictions (verified remote executors) */
  readonly verification?: { readonly audits: Readonly<Record<string, number>>, readonly convictions: number }
}

export type RouteReason = 'open' | 'failover' | 'relay' | 'distrust'

export interface SpanExecutor {
  readonly modelId: string
  readonly start: number
  readonly end: number
  open (sessionId: string, options: OpenOptions): Promise<SpanSession>
  stats? (): ExecutorStats
  /**
   * The most tokens one forward should carry when the caller wants its thread back between steps:
   * an executor computing on the caller's thread sets it; remote ones leave it unset.
   */
  readonly stepTokens?: number
  /** whether sessions can be opened now, and why not (remote executors: a block nobody serves) */
  health? (): { readonly ok: boolean, readonly reason?: string }
}

/** Positions must be consecutive and continue the cache. */
export function checkStep (session: { length: number, maxLength: number }, dim: number, hidden: Float32Array, positions: ArrayLike<number>): void {
  const n = positions.length
  if (n === 0 || hidden.length !== n * dim) {
    throw new ShapeMismatchError(`hidden state has ${hidden.length} values, expected ${n} positions × dim ${dim}`)
  }
  for (let i = 0; i < n; i++) {
    if (positions[i] !== session.length + i) {
      throw new SessionError('BAD_POSITIONS', `positions must continue the cache: expected ${session.length + i} at index ${i}, got ${positions[i]}`)
    }
  }
  if (session.length + n > session.maxLength) {
    throw new ContextOverflowError(`session holds ${session.length} of ${session.maxLength} tokens; ${n} more do not fit`)
  }
}

export interface LocalSpanOptions {
  start: number
  end: number
  /** the id of the model's weights (see loadWeights' `hash`); computed when absent */
  modelId?: string
  /** bytes of KV cache all sessions together may take; default 2 GiB */
  cacheBudgetBytes?: number
  maxChunk?: number
  /** how steps of concurrent sessions are gathered into one forward */
  batch?: BatchOptions
  /** false when the weights belong to someone else (views over a larger span): close() leaves them */
  ownsWeights?: boolean
  signal?: AbortSignal
  onProgress?: (bytesDone: number, bytesTotal: number) => void
}

/** Prompt tokens per step on a local span: it computes on the event loop's thread, which gets a turn between steps. */
export const LOCAL_STEP_TOKENS = 16

export class LocalSpanExecutor implements SpanExecutor {
  readonly stepTokens = LOCAL_STEP_TOKENS
  readonly modelId: string
  readonly start: number
  readonly end: number
  readonly cacheBudgetBytes: number
  private readonly forwardPass: SpanForward
  readonly batcher: StepBatcher
  private readonly ownsWeights: boolean
  private readonly sessions = new Map<string, LocalSpanSession>()
  private reserved = 0

  static async load (source: ModelSource, backend: Backend, options: LocalSpanOptions): Promise<LocalSpanExecutor> {
    const weights = await loadWeights(source, backend, {
      start: options.start, end: options.end, hash: options.modelId === undefined, signal: options.signal, onProgress: options.onProgress
    })
    return new LocalSpanExecutor(source.config, backend, weights, { ...options, modelId: options.modelId ?? weights.modelId! })
  }

  constructor (readonly config: ModelConfig, readonly backend: Backend, private readonly weights: LoadedWeights, options: LocalSpanOptions & { modelId: string }) {
    if (weights.layers.length !== options.end - options.start) throw new InvalidArgumentError('weights do not match the span')
    this.modelId = options.modelId
    this.start = options.start
    this.end = options.end
    this.cacheBudgetBytes = options.cacheBudgetBytes ?? 2 ** 31
    this.ownsWeights = options.ownsWeights ?? true
    this.forwardPass = new SpanForward(backend, config, weights.layers, options.maxChunk ?? DEFAULT_MAX_CHUNK)
    this.batcher = new StepBatcher(this.forwardPass, options.batch)
  }

  get bytesPerToken (): number {
    return cacheBytesPerToken(this.config, this.end - this.start)
  }

  /** Tokens of cache still available to new sessions. */
  get freeCacheTokens (): number {
    return Math.floor((this.cacheBudgetBytes - this.reserved) / Math.max(1, this.bytesPerToken))
  }

  get openSessions (): number {
    return this.sessions.size
  }

  stats (): ExecutorStats {
    return { openSessions: this.sessions.size }
  }

  async open (sessionId: string, options: OpenOptions): Promise<SpanSession> {
    throwIfAborted(options.signal)
    const { maxLength } = options
    if (!Number.isInteger(maxLength) || maxLength <= 0) throw new InvalidArgumentError(`maxLength must be a positive integer, got ${maxLength}`)
    if (maxLength > this.config.contextLength) {
      throw new ContextOverflowError(`maxLength ${maxLength} exceeds the model's context of ${this.config.contextLength} tokens`)
    }
    return this.create(sessionId, maxLength)
  }

  private create (sessionId: string, maxLength: number): LocalSpanSession {
    if (this.sessions.has(sessionId)) throw new SessionError('SESSION_EXISTS', `session ${sessionId} is already open`)
    const bytes = maxLength * this.bytesPerToken
    if (this.reserved + bytes > this.cacheBudgetBytes) {
      throw new CacheBudgetError(`a ${maxLength}-token session needs ${bytes} bytes of KV cache; ${this.cacheBudgetBytes - this.reserved} of ${this.cacheBudgetBytes} are free`)
    }
    this.reserved += bytes
    const cache = allocKvCache(this.backend, this.config, this.end - this.start, maxLength)
    const session = new LocalSpanSession(this, sessionId, cache, () => {
      this.batcher.forget(session)
      this.sessions.delete(sessionId)
      this.reserved -= bytes
      freeKvCache(this.backend, cache)
    })
    this.sessions.set(sessionId, session)
    log('open %s [%d, %d) maxLength %d', sessionId, this.start, this.end, maxLength)
    return session
  }

  /** A new session whose cache starts as a copy of the first `length` rows of `cache`. */
  forkSession (sessionId: string, cache: KvCache, length: number): LocalSpanSession {
    const session = this.create(sessionId, cache.maxLength)
    session.copyFrom(cache, length)
    return session
  }

  /** Runs one step of `session`, batched with other sessions' steps; used by sessions. */
  async run (session: object, cache: KvCache, hidden: Float32Array, pos0: number, options: ForwardOptions): Promise<Float32Array> {
    const { out, cost } = await this.batcher.submit(session, { cache, hidden, pos0 }, options)
    options.onCost?.(cost)
    return out
  }

  /** Closes every session and frees the weights (if it owns them). */
  async close (): Promise<void> {
    await Promise.all([...this.sessions.values()].map(async s => await s.close()))
    this.forwardPass.dispose()
    if (this.ownsWeights) freeWeights(this.backend, this.weights)
  }
}

class LocalSpanSession implements SpanSession {
  length = 0
  private closed = false
  /** the step before (steps of one session run in order, never in one batch) */
  private tail: Promise<unknown> = Promise.resolve()

  constructor (private readonly executor: LocalSpanExecutor, readonly sessionId: string, private readonly cache: KvCache, private readonly release: () => void) {}

  get maxLength (): number {
    return this.cache.maxLength
  }

  async forward (hidden: Float32Array, positions: ArrayLike<number>, options: ForwardOptions = {}): Promise<Float32Array> {
    const step = this.tail.then(async () => {
      throwIfAborted(options.signal)
      if (this.closed) throw new SessionError('SESSION_CLOSED', `session ${this.sessionId} is closed`)
      checkStep(this, this.executor.config.dim, hidden, positions)
      const out = await this.executor.run(this, this.cache, hidden, this.length, options)
      this.length += positions.length
      return out
    })
    this.tail = step.catch(() => {})
    return await step
  }

  async fork (sessionId: string, options: { signal?: AbortSignal } = {}): Promise<SpanSession> {
    throwIfAborted(options.signal)
    if (this.closed) throw new SessionError('SESSION_CLOSED', `session ${this.sessionId} is closed`)
    return this.executor.forkSession(sessionId, this.cache, this.length)
  }

  /** Copies the first `length` rows of every layer's keys and values from `cache` (a fresh session only). */
  copyFrom (cache: KvCache, length: number): void {
    const b = this.executor.backend
    if (length > 0) {
      cache.k.forEach((k, l) => b.copyRows(this.cache.k[l]!, 0, k, length))
      cache.v.forEach((v, l) => b.copyRows(this.cache.v[l]!, 0, v, length))
    }
    this.length = length
  }

  async rollback (toPosition: number): Promise<void> {
    if (this.closed) throw new SessionError('SESSION_CLOSED', `session ${this.sessionId} is closed`)
    if (!Number.isInteger(toPosition) || toPosition < 0 || toPosition > this.length) {
      throw new SessionError('BAD_POSITIONS', `cannot roll back to ${toPosition}: the cache holds ${this.length} tokens`)
    }
    this.length = toPosition // rows past the length are overwritten by the next forward
  }

  async close (): Promise<void> {
    if (this.closed) return
    this.closed = true
    this.release()
  }
}

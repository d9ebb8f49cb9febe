/**
 * The page's side of a span worker: a SpanService (what SwarmServer serves) whose sessions run in
 * the worker. The span server, protocol and records stay on the page, unchanged.
 */
import { type ModelConfig, type SpanSession, cacheBytesPerToken } from '../../src/model/index.ts'
import type { SpanLoadRequest, SpanLoader, SpanService } from '../../src/swarm/index.ts'
import { type ErrorCode, GridError, SessionError } from '../../src/util/errors.ts'
import type { SpanBackend, SpanReply, SpanRequest } from './span-protocol.ts'

const WORKER = new URL('./span-worker.js', import.meta.url)

export class WorkerSpan implements SpanService {
  freeCacheTokens = 0
  openSessions = 0
  private nextId = 0
  private readonly waiting = new Map<number, { resolve: (r: unknown) => void, reject: (e: Error) => void }>()
  private retired = false
  /** the backend the worker computes on (its name) */
  backend = ''
  private closed = false

  private constructor (private readonly worker: Worker, readonly modelId: string, private readonly config: ModelConfig,
    readonly start: number, readonly end: number, readonly cacheBudgetBytes: number) {}

  get dim (): number {
    return this.config.dim
  }

  /** What a session takes in the worker (the span server admits by it; the worker reserves it). */
  cacheBytes (start: number, end: number, maxLength: number): number {
    return Math.max(0, maxLength) * cacheBytesPerToken(this.config, Math.max(0, end - start))
  }

  /** Starts a worker and loads blocks [start, end) in it from the OPFS store. */
  static async load (r: SpanLoadRequest, options: { threads: number, name: string, backend: SpanBackend }): Promise<WorkerSpan> {
    const worker = new Worker(WORKER, { type: 'module', name: `gridllm span ${r.start}:${r.end}` })
    const span = new WorkerSpan(worker, r.modelId, r.manifest.config, r.start, r.end, r.cacheBudgetBytes ?? 2 ** 30)
    worker.addEventListener('message', (e: MessageEvent<SpanReply>) => { span.receive(e.data) })
    worker.addEventListener('error', e => { span.fail(new GridError('INTERNAL', `the span worker failed: ${e.message}`)) })
    try {
      const loaded = await span.call({ op: 'load', modelId: r.modelId, manifest: r.manifest.bytes, name: options.name, start: r.start, end: r.end, threads: options.threads, backend: options.backend, cacheBudgetBytes: r.cacheBudgetBytes }) as { backend: string }
      span.backend = loaded.backend
    } catch (err) {
      worker.terminate()
      throw err
    }
    return span
  }

  static loader (options: { threads: number, name: () => string, backend: SpanBackend, onLoad?: (span: WorkerSpan) => void }): SpanLoader {
    return async r => {
      const span = await WorkerSpan.load(r, { threads: options.threads, name: options.name(), backend: options.backend })
      options.onLoad?.(span)
      return span
    }
  }

  async open (sessionId: string, start: number, end: number, maxLength: number): Promise<SpanSession> {
    if (this.retired) throw new GridError('SPAN_NOT_SERVED', `this tab no longer serves blocks ${this.start}:${this.end}`)
    await this.call({ op: 'open', session: sessionId, start, end, maxLength })
    this.openSessions++
    let length = 0
    let closed = false
    return {
      sessionId,
      maxLength,
      get length () { return length },
      forward: async (hidden, positions) => {
        if (closed) throw new SessionError('SESSION_CLOSED', `session ${sessionId} is closed`)
        const out = await this.call({ op: 'forward', session: sessionId, hidden, positions: Array.from(positions) }) as Float32Array
        length += positions.length
        return out
      },
      rollback: async to => { await this.call({ op: 'rollback', session: sessionId, position: to }); length = to },
      close: async () => {
        if (closed) return
        closed = true
        await this.call({ op: 'close', session: sessionId }).catch(() => {})
        this.openSessions--
        if (this.retired && this.openSessions === 0) this.close()
      }
    }
  }

  async benchmark (options: { seconds?: number } = {}): Promise<number> {
    return await this.call({ op: 'benchmark', seconds: options.seconds ?? 1 }) as number
  }

  retire (): void {
    this.retired = true
    if (this.openSessions === 0) this.close()
  }

  close (): void {
    if (this.closed) return
    this.closed = true
    void this.call({ op: 'dispose' }).catch(() => {}).finally(() => { this.worker.terminate(); this.fail(new GridError('SESSION_CLOSED', 'the span worker stopped')) })
  }

  private async call (req: SpanRequest): Promise<unknown> {
    if (this.closed && req.op !== 'dispose') throw new GridError('SESSION_CLOSED', 'the span worker stopped')
    const id = this.nextId++
    const reply = Promise.withResolvers<unknown>()
    this.waiting.set(id, reply)
    // a hidden state moves to the worker in a buffer of its own (the caller's may view a larger one)
    const transfer: Transferable[] = []
    if (req.op === 'forward') { req = { ...req, hidden: req.hidden.slice() }; transfer.push(req.hidden.buffer as ArrayBuffer) }
    this.worker.postMessage({ ...req, id }, { transfer })
    return await reply.promise
  }

  private receive (r: SpanReply): void {
    this.freeCacheTokens = r.freeCacheTokens
    const w = this.waiting.get(r.id)
    if (w === undefined) return
    this.waiting.delete(r.id)
    if (r.ok) w.resolve(r.result)
    else w.reject(new GridError(r.code as ErrorCode, r.message))
  }

  private fail (err: Error): void {
    for (const w of this.waiting.values()) w.reject(err)
    this.waiting.clear()
  }
}

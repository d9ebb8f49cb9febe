/**
 * A SpanExecutor over the swarm: one chain session routes every step through a planned chain of
 * servers (hops) and survives hops failing.
 *
 * Push (default): the client sends a step to the first hop only; each server pushes its output to
 * the next hop and returns a copy to the client, and the last hop's copy is the step's output.
 * Relay (fallback): the client sends each hop its input and waits for the output itself.
 *
 * The copies are each hop's input history. When a hop fails (broken stream, error reply, timeout)
 * the client bans its server, plans a route over the failed hop's blocks without it, opens the new
 * hops, replays the history into them step by step (same step boundaries, so the KV caches come out
 * bit-identical), re-points the previous hop's push target and finishes the step relayed.
 */
import { type ExecutorStats, type ModelConfig, type OpenOptions, type SpanExecutor, type SpanSession, checkStep } from '../model/index.ts'
import { type NextHop, type PeerAddress, RemoteSpanSession } from '../net/index.ts'
import type { FrameDType } from '../tensor/index.ts'
import { type GridError, NetworkError, NoRouteError, SessionError, throwIfAborted } from '../util/errors.ts'
import { randomId } from '../util/bytes.ts'
import { logger } from '../util/log.ts'
import type { SwarmClient } from './client.ts'
import { peerAddress } from './directory.ts'

const log = logger('swarm:chain')

export type RouteMode = 'push' | 'relay'

export interface ChainOptions {
  modelId: string
  config: ModelConfig
  /** default 'push' */
  mode?: RouteMode
  /** activations on the wire; default f32 (f16 halves the bytes but changes the numbers) */
  dtype?: FrameDType
  /** a step fails if no output comes within stepTimeoutMs + n × tokenTimeoutMs; default 30 s + 1 s per token */
  stepTimeoutMs?: number
  tokenTimeoutMs?: number
  /** how long to look for a replacement of a failed hop; default 60 s */
  recoverTimeoutMs?: number
  /** told about every route a session takes (for logs, tests and benchmarks) */
  onRoute?: (event: RouteEvent) => void
}

export interface RouteEvent {
  readonly session: string
  readonly reason: 'open' | 'failover'
  readonly hops: ReadonlyArray<{ readonly peer: string, readonly start: number, readonly end: number }>
}

export class SwarmExecutor implements SpanExecutor {
  readonly start = 0
  readonly end: number
  readonly modelId: string

  private sessions = 0
  private hopCount = 0
  private hopSeconds = 0

  constructor (readonly client: SwarmClient, readonly options: ChainOptions) {
    this.modelId = options.modelId
    this.end = options.config.nLayers
    client.watch(this.modelId, this.end)
  }

  async open (sessionId: string, options: OpenOptions): Promise<SpanSession> {
    const session = await ChainSession.open(this, sessionId, options, () => { this.sessions-- })
    this.sessions++
    return session
  }

  /** A hop's time for one step: its compute plus the link into it. */
  recordHop (seconds: number): void {
    this.hopCount++
    this.hopSeconds += seconds
  }

  stats (): ExecutorStats {
    return { openSessions: this.sessions, hops: { count: this.hopCount, sumSeconds: this.hopSeconds } }
  }
}

class Hop {
  /** this hop's input per step id (its history) */
  inputs = new Map<number, Float32Array>()
  /** steps whose output this hop delivered */
  readonly done = new Set<number>()
  failure: GridError | undefined
  remote: RemoteSpanSession | undefined
  /** during a replay, where outputs go (the hop is not yet in the chain) */
  replayNext: Hop | undefined
  readonly id = randomId()

  constructor (readonly peer: PeerAddress, readonly start: number, readonly end: number) {}

  get healthy (): boolean {
    return this.failure === undefined && this.remote?.isOpen === true
  }
}

const sleep = async (ms: number): Promise<void> => { await new Promise(resolve => setTimeout(resolve, ms)) }

class ChainSession implements SpanSession {
  length = 0
  private hops: Hop[] = []
  private readonly final = new Map<number, Float32Array>()
  private readonly stepFrom = new Map<number, number>()
  private nextStep = 0
  private mode: RouteMode
  private pushFailed = false
  private pushSentAt = 0
  private wake = Promise.withResolvers<void>()
  private closed = false

  private constructor (private readonly executor: SwarmExecutor, readonly sessionId: string, readonly maxLength: number,
    private readonly signal: AbortSignal | undefined, private readonly onClose: () => void) {
    this.mode = executor.options.mode ?? 'push'
  }

  static async open (executor: SwarmExecutor, sessionId: string, options: OpenOptions, onClose: () => void): Promise<ChainSession> {
    const s = new ChainSession(executor, sessionId, options.maxLength, options.signal, onClose)
    s.hops = await s.withRoute(0, executor.options.config.nLayers, async hops => { await s.openHops(hops, undefined) })
    s.emit('open')
    return s
  }

  private get client (): SwarmClient {
    return this.executor.client
  }

  private get options (): ChainOptions {
    return this.executor.options
  }

  async forward (hidden: Float32Array, positions: ArrayLike<number>, options: { signal?: AbortSignal } = {}): Promise<Float32Array> {
    const signal = options.signal ?? this.signal
    throwIfAborted(signal)
    if (this.closed) throw new SessionError('SESSION_CLOSED', `session ${this.sessionId} is closed`)
    checkStep(this, this.options.config.dim, hidden, positions)
    const k = this.nextStep++
    const n = positions.length
    this.stepFrom.set(k, positions[0]!)
    this.hops[0]!.inputs.set(k, hidden)
    if (this.mode === 'push') {
      const first = this.hops[0]!
      this.pushFailed = false
      this.pushSentAt = performance.now()
      await first.remote!.step(k, positions[0]!, hidden, true).catch(err => { first.failure ??= err })
      const settled = await this.until(() => this.final.has(k) || this.pushFailed || this.hops.some(h => !h.healthy), this.deadline(n), signal)
      if (!this.final.has(k)) {
        if (!settled) this.blameSlowest(k)
        const replaced = await this.recover(k, signal)
        if (this.pushFailed && !replaced) {
          log('%s: a server could not push to the next one; relaying through the client from now on', this.sessionId)
          this.mode = 'relay'
        }
      }
    } else {
      await this.recover(k, signal)
    }
    const out = this.final.get(k)!
    this.final.delete(k)
    this.length += n
    return out
  }

  async rollback (toPosition: number): Promise<void> {
    if (!Number.isInteger(toPosition) || toPosition < 0 || toPosition > this.length) {
      throw new SessionError('BAD_POSITIONS', `cannot roll back to ${toPosition}: the session holds ${this.length} tokens`)
    }
    const dim = this.options.config.dim
    for (const [k, from] of this.stepFrom) {
      const rows = toPosition - from
      for (const h of this.hops) {
        const input = h.inputs.get(k)
        if (input === undefined) continue
        if (rows <= 0) h.inputs.delete(k)
        else if (rows * dim < input.length) h.inputs.set(k, input.slice(0, rows * dim))
      }
      if (rows <= 0) this.stepFrom.delete(k)
    }
    await Promise.all(this.hops.map(async h => { await h.remote!.rollback(toPosition).catch(err => { h.failure ??= err }) }))
    this.length = toPosition
  }

  async close (): Promise<void> {
    if (this.closed) return
    this.closed = true
    this.onClose()
    await Promise.all(this.hops.map(async h => { await h.remote?.close() }))
  }

  /** Finishes step k hop by hop through the client, replacing failed hops. Returns whether any hop was replaced. */
  private async recover (k: number, signal: AbortSignal | undefined): Promise<boolean> {
    let replaced = false
    const n = this.hops[0]!.inputs.get(k)!.length / this.options.config.dim
    for (let i = 0; i < this.hops.length; i++) {
      for (;;) {
        const hop = this.hops[i]!
        if (hop.done.has(k)) break
        if (!hop.healthy) {
          if (isFatal(hop.failure)) throw hop.failure
          await this.replace(i, k, signal)
          replaced = true
          continue
        }
        const sentAt = performance.now()
        await hop.remote!.step(k, this.stepFrom.get(k)!, hop.inputs.get(k)!, false).catch(err => { hop.failure ??= err })
        const settled = await this.until(() => hop.done.has(k) || !hop.healthy, this.deadline(n), signal)
        if (hop.done.has(k)) {
          const seconds = (performance.now() - sentAt) / 1000
          this.executor.recordHop(seconds)
          if (n === 1) this.client.observe(hop.peer.id, seconds / (hop.end - hop.start))
          break
        }
        if (!settled) hop.failure ??= new NetworkError('TIMEOUT', `${hop.peer.id.slice(-8)} did not answer step ${k} in time`)
      }
    }
    return replaced
  }

  /** Replaces hops[i] with a fresh route over its blocks, replaying steps before k into it. */
  private async replace (i: number, k: number, signal: AbortSignal | undefined): Promise<void> {
    const old = this.hops[i]!
    log('%s: hop %d (%s, blocks %d:%d) failed: %s', this.sessionId, i, old.peer.id.slice(-8), old.start, old.end, old.failure?.message ?? 'stream closed')
    this.client.ban(old.peer.id)
    void old.remote?.close()
    const after = this.hops[i + 1]
    const fresh = await this.withRoute(old.start, old.end, async hops => {
      await this.openHops(hops, after)
      hops[0]!.inputs = new Map(old.inputs)
      await this.replay(hops, k, signal)
    }, new Set([old.peer.id]), signal)
    this.hops.splice(i, 1, ...fresh)
    for (const h of fresh) h.replayNext = undefined
    if (this.mode === 'push' && i > 0) {
      const prev = this.hops[i - 1]!
      await prev.remote!.setNext(nextHop(fresh[0]!)).catch(err => { prev.failure ??= err })
    }
    this.emit('failover')
  }

  /**
   * Plans a route over [start, end), builds its hops and runs `setup` on them, retrying with new
   * plans (banning servers that fail) until `recoverTimeoutMs` runs out.
   */
  private async withRoute (start: number, end: number, setup: (hops: Hop[]) => Promise<void>, exclude: ReadonlySet<string> = new Set(), signal = this.signal): Promise<Hop[]> {
    const { modelId, config } = this.options
    const deadline = Date.now() + (this.options.recoverTimeoutMs ?? 60_000)
    let refresh = false
    for (let attempt = 0; ; attempt++) {
      throwIfAborted(signal)
      await this.client.servers(modelId, config.nLayers, { refresh, signal })
      let hops: Hop[]
      try {
        const plan = this.client.plan(modelId, start, end, this.maxLength, exclude)
        hops = plan.hops.map(h => new Hop(peerAddress(this.client.server(modelId, h.peer)!), h.start, h.end))
      } catch (err) {
        if (!(err instanceof NoRouteError) || Date.now() > deadline) throw err
        log('%s: %s; looking again', this.sessionId, err.message)
        // first ask the DHT again at once (servers may have joined since), then back off
        if (refresh) await sleep(Math.min(5000, 250 * 2 ** attempt))
        refresh = true
        continue
      }
      // a server that fails to set up is banned, so the next attempt plans around it without a lookup
      refresh = false
      try {
        await setup(hops)
        return hops
      } catch (err) {
        for (const h of hops) {
          if (h.failure !== undefined) this.client.ban(h.peer.id)
          void h.remote?.close()
        }
        throwIfAborted(signal)
        if (isFatal(err) || Date.now() > deadline) throw err
        log('%s: setting up a route over %d:%d failed: %s', this.sessionId, start, end, (err as Error).message)
      }
    }
  }

  /** Opens sessions on new hops, each pushing to the following one (the last to `after`). */
  private async openHops (hops: Hop[], after: Hop | undefined): Promise<void> {
    const { modelId, config, dtype } = this.options
    const opened = await Promise.allSettled(hops.map(async (h, j) => {
      const next = hops[j + 1] ?? after
      h.replayNext = hops[j + 1]
      h.remote = await RemoteSpanSession.open(this.client.node, h.peer, {
        session: h.id, model: modelId, start: h.start, end: h.end, maxLength: this.maxLength, dtype,
        next: this.mode === 'push' && next !== undefined ? nextHop(next) : null
      }, config.dim, {
        onResult: (step, output) => { this.onResult(h, step, output) },
        onFailure: (err) => {
          if (err.code === 'PUSH_FAILED') this.pushFailed = true
          else h.failure ??= err
          this.notify()
        }
      }, { signal: this.signal })
    }))
    opened.forEach((r, j) => { if (r.status === 'rejected') hops[j]!.failure = r.reason as GridError })
    const failed = opened.find(r => r.status === 'rejected')
    if (failed !== undefined) throw failed.reason
  }

  /** Sends new hops every step before k (pipelined, relayed), in their original boundaries. */
  private async replay (hops: Hop[], k: number, signal: AbortSignal | undefined): Promise<void> {
    const steps = [...hops[0]!.inputs.keys()].filter(s => s < k).sort((a, b) => a - b)
    if (steps.length === 0) return
    const tokens = steps.reduce((sum, s) => sum + hops[0]!.inputs.get(s)!.length, 0) / this.options.config.dim
    for (const h of hops) {
      for (const s of steps) await h.remote!.step(s, this.stepFrom.get(s)!, h.inputs.get(s)!, false).catch(err => { h.failure ??= err })
      const settled = await this.until(() => steps.every(s => h.done.has(s)) || !h.healthy, this.deadline(tokens), signal)
      if (!h.healthy) throw h.failure ?? new NetworkError('CONNECTION_LOST', `${h.peer.id.slice(-8)} failed during replay`)
      if (!settled) { h.failure = new NetworkError('TIMEOUT', `${h.peer.id.slice(-8)} did not finish the replay in time`); throw h.failure }
    }
    log('%s: replayed %d steps (%d tokens) into %d new hops', this.sessionId, steps.length, tokens, hops.length)
  }

  private onResult (hop: Hop, step: number, output: Float32Array): void {
    hop.done.add(step)
    const i = this.hops.indexOf(hop)
    if (i >= 0 && this.mode === 'push' && step === this.nextStep - 1 && output.length === this.options.config.dim) {
      // push timing: the time since the previous hop's copy (or the send) is this hop's work plus a link
      const now = performance.now()
      this.executor.recordHop((now - this.pushSentAt) / 1000)
      if (i < this.hops.length - 1) this.client.observe(hop.peer.id, (now - this.pushSentAt) / 1000 / (hop.end - hop.start))
      this.pushSentAt = now
    }
    if (i === this.hops.length - 1) {
      if (!this.final.has(step) && step === this.nextStep - 1) this.final.set(step, output)
    } else {
      const next = i >= 0 ? this.hops[i + 1] : hop.replayNext
      if (next !== undefined && !next.inputs.has(step)) next.inputs.set(step, output)
    }
    this.notify()
  }

  /** After a timeout in push mode: the first hop that has not delivered is the one to replace. */
  private blameSlowest (k: number): void {
    const hop = this.hops.find(h => !h.done.has(k))
    if (hop !== undefined) hop.failure ??= new NetworkError('TIMEOUT', `${hop.peer.id.slice(-8)} did not answer step ${k} in time`)
  }

  private deadline (tokens: number): number {
    return Date.now() + (this.options.stepTimeoutMs ?? 30_000) + tokens * (this.options.tokenTimeoutMs ?? 1000)
  }

  private notify (): void {
    const w = this.wake
    this.wake = Promise.withResolvers<void>()
    w.resolve()
  }

  /** Waits until cond() holds (true) or the deadline passes (false). */
  private async until (cond: () => boolean, deadline: number, signal: AbortSignal | undefined): Promise<boolean> {
    const onAbort = (): void => { this.notify() }
    signal?.addEventListener('abort', onAbort)
    try {
      while (!cond()) {
        throwIfAborted(signal)
        const left = deadline - Date.now()
        if (left <= 0) return false
        let timer: NodeJS.Timeout | undefined
        await Promise.race([this.wake.promise, new Promise<void>(resolve => { timer = setTimeout(resolve, Math.min(left, 1000)) })])
        clearTimeout(timer)
      }
      return true
    } finally {
      signal?.removeEventListener('abort', onAbort)
    }
  }

  private emit (reason: RouteEvent['reason']): void {
    const hops = this.hops.map(h => ({ peer: h.peer.id, start: h.start, end: h.end }))
    log('%s route (%s): %s', this.sessionId, reason, hops.map(h => `${h.peer.slice(-8)}[${h.start}:${h.end})`).join(' → '))
    this.options.onRoute?.({ session: this.sessionId, reason, hops })
  }
}

/** Errors a new route cannot fix: the request itself is wrong. */
const FATAL = new Set(['SHAPE_MISMATCH', 'BAD_POSITIONS', 'CONTEXT_OVERFLOW', 'INVALID_ARGUMENT', 'ABORTED'])

function isFatal (err: unknown): boolean {
  return FATAL.has((err as { code?: string } | undefined)?.code ?? '')
}

function nextHop (h: Hop): NextHop {
  return { peer: h.peer.id, addrs: h.peer.addrs, session: h.id }
}

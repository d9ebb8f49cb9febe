/**
 * A chain session: one session of a SwarmExecutor, routing every step through a planned chain of
 * servers (hops), surviving hops that fail and rebuilding hops a watcher distrusts.
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
import { type ModelConfig, type OpenOptions, type RouteReason, type SpanSession, type VerificationReport, checkStep } from '../model/index.ts'
import { type NextHop, type Receipt, RemoteSpanSession } from '../net/index.ts'
import type { FrameDType } from '../tensor/index.ts'
import { BadOutputError, type GridError, NetworkError, NoRouteError, SessionError, isCapacityError, throwIfAborted } from '../util/errors.ts'
import { logger } from '../util/log.ts'
import type { SwarmClient } from './client.ts'
import { peerAddress } from './directory.ts'
import { Hop } from './hop.ts'
import type { ChainOptions, RouteMode, SwarmExecutor } from './executor.ts'
import type { HopView, SessionWatch, WatchedSession } from './watch.ts'

const log = logger('swarm:chain')

const sleep = async (ms: number): Promise<void> => { await new Promise(resolve => setTimeout(resolve, ms)) }

export class ChainSession implements SpanSession, WatchedSession {
  length = 0
  private route: Hop[] = []
  private readonly final = new Map<number, Float32Array>()
  private readonly stepFrom = new Map<number, number>()
  private nextStep = 0
  private mode: RouteMode
  private pushFailed = false
  private pushSentAt = 0
  private wake = Promise.withResolvers<void>()
  private closed = false
  /** servers whose work was found wrong, to rebuild before the next step */
  private readonly distrusted = new Map<string, GridError>()
  private watch: SessionWatch | undefined

  private constructor (private readonly executor: SwarmExecutor, readonly sessionId: string, readonly maxLength: number,
    private readonly signal: AbortSignal | undefined, private readonly onClose: () => void) {
    this.mode = executor.options.mode ?? 'push'
  }

  static async open (executor: SwarmExecutor, sessionId: string, options: OpenOptions, onClose: () => void): Promise<ChainSession> {
    const s = new ChainSession(executor, sessionId, options.maxLength, options.signal, onClose)
    s.route = await s.withRoute(0, executor.options.config.nLayers, async hops => { await s.openHops(hops, undefined) })
    s.emit('open')
    s.watch = executor.options.watcher?.open(s)
    return s
  }

  get modelId (): string {
    return this.options.modelId
  }

  get config (): ModelConfig {
    return this.options.config
  }

  get dtype (): FrameDType {
    return this.options.dtype ?? 'f32'
  }

  hops (): HopView[] {
    return this.route.map(h => ({
      peer: h.peer.id, addrs: h.peer.addrs, start: h.start, end: h.end, session: h.id, steps: () => h.records(this.stepFrom)
    }))
  }

  verification (): VerificationReport | undefined {
    return this.options.watcher?.report?.(this.sessionId)
  }

  distrust (peer: string, reason: GridError): void {
    if (this.closed || !this.route.some(h => h.peer.id === peer)) return
    log('%s: distrusting %s: %s', this.sessionId, peer.slice(-8), reason.message)
    this.distrusted.set(peer, reason)
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
    await this.rebuildDistrusted(signal)
    const k = this.nextStep++
    const n = positions.length
    this.stepFrom.set(k, positions[0]!)
    this.route[0]!.inputs.set(k, hidden)
    if (this.mode === 'push') {
      const first = this.route[0]!
      this.pushFailed = false
      this.pushSentAt = performance.now()
      await first.remote!.step(k, positions[0]!, hidden, true).catch(err => { first.failure ??= err })
      const settled = await this.until(() => this.final.has(k) || this.pushFailed || this.route.some(h => !h.healthy), this.deadline(n), signal)
      if (!this.final.has(k)) {
        if (!settled) this.blameSlowest(k)
        const replaced = await this.recover(k, signal)
        if (this.pushFailed && !replaced) {
          log('%s: a server could not push to the next one; relaying through the client from now on', this.sessionId)
          this.mode = 'relay'
          this.emit('relay')
        }
      }
    } else {
      await this.recover(k, signal)
    }
    let out = this.final.get(k)!
    this.final.delete(k)
    // a watcher may check the step here (strict verification) and distrust a hop: then the step's
    // output comes from the rebuilt route
    await this.watch?.onStep?.(k)
    if (this.distrusted.size > 0) {
      await this.rebuildDistrusted(signal)
      out = this.route[this.route.length - 1]!.outputs.get(k)!
    }
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
      if (rows * dim >= (this.route[0]!.inputs.get(k)?.length ?? Infinity)) continue // wholly before the cut
      for (const h of this.route) h.trim(k, rows)
      if (rows <= 0) this.stepFrom.delete(k)
    }
    // no message: the next step starts at toPosition, and each server cuts its cache there when
    // that step reaches it (a rollback sent on its own could arrive after a step pushed to the
    // server by the hop before it)
    this.length = toPosition
  }

  async close (): Promise<void> {
    if (this.closed) return
    this.closed = true
    this.onClose()
    await Promise.all(this.route.map(async h => { await h.finish() }))
    this.watch?.onClose?.()
  }

  /** Rebuilds, from the first distrusted hop on, every hop whose work or inputs came from a distrusted server. */
  private async rebuildDistrusted (signal: AbortSignal | undefined): Promise<void> {
    while (this.distrusted.size > 0) {
      const i = this.route.findIndex(h => this.distrusted.has(h.peer.id))
      if (i < 0) { this.distrusted.clear(); return }
      const hop = this.route[i]!
      hop.failure ??= this.distrusted.get(hop.peer.id)
      this.distrusted.delete(hop.peer.id)
      await this.replace(i, this.route.length - i, this.nextStep, signal, 'distrust')
    }
  }

  /** Finishes step k hop by hop through the client, replacing failed hops. Returns whether any hop was replaced. */
  private async recover (k: number, signal: AbortSignal | undefined): Promise<boolean> {
    let replaced = false
    const n = this.route[0]!.inputs.get(k)!.length / this.options.config.dim
    for (let i = 0; i < this.route.length; i++) {
      for (;;) {
        const hop = this.route[i]!
        if (hop.done.has(k)) break
        if (!hop.healthy) {
          if (isFatal(hop.failure)) throw hop.failure
          await this.replace(i, 1, k, signal, 'failover')
          replaced = true
          continue
        }
        const sentAt = performance.now()
        await hop.remote!.step(k, this.stepFrom.get(k)!, hop.inputs.get(k)!, false).catch(err => { hop.failure ??= err })
        const settled = await this.until(() => hop.done.has(k) || !hop.healthy, this.deadline(n, [hop]), signal)
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

  /**
   * Replaces `count` hops from route[i] with a fresh route over their blocks, replaying steps before k
   * into it. Only route[i] failed (or is distrusted): it is penalized; the others are rebuilt because
   * their caches came from its outputs.
   */
  private async replace (i: number, count: number, k: number, signal: AbortSignal | undefined, reason: 'failover' | 'distrust'): Promise<void> {
    const old = this.route.slice(i, i + count)
    const first = old[0]!
    log('%s: hop %d (%s, blocks %d:%d) %s: %s', this.sessionId, i, first.peer.id.slice(-8), first.start, first.end, reason === 'distrust' ? 'is distrusted' : 'failed', first.failure?.message ?? 'stream closed')
    this.client.penalize(this.options.modelId, first.peer.id, first.failure)
    for (const h of old) void h.finish()
    const after = this.route[i + count]
    const fresh = await this.withRoute(first.start, old[old.length - 1]!.end, async hops => {
      await this.openHops(hops, after)
      hops[0]!.inputs = first.liveInputs(this.options.config.dim)
      await this.replay(hops, k, signal)
    }, new Set([first.peer.id]), signal)
    this.route.splice(i, count, ...fresh)
    for (const h of fresh) h.replayNext = undefined
    if (this.mode === 'push' && i > 0) {
      const prev = this.route[i - 1]!
      await prev.remote!.setNext(nextHop(fresh[0]!)).catch(err => { prev.failure ??= err })
    }
    this.emit(reason)
  }

  /**
   * Plans a route over [start, end), builds its hops and runs `setup` on them, retrying with new
   * plans (banning servers that fail) until `recoverTimeoutMs` runs out.
   */
  private async withRoute (start: number, end: number, setup: (hops: Hop[]) => Promise<void>, exclude: ReadonlySet<string> = new Set(), signal = this.signal): Promise<Hop[]> {
    const { modelId, config } = this.options
    const deadline = Date.now() + (this.options.recoverTimeoutMs ?? 60_000)
    let refresh = false
    /** a server that refused for lack of room: if no other route is left, that is the answer */
    let full: GridError | undefined
    /** since when no plan covered the blocks: with no live server for some block, fail soon */
    let uncoveredSince: number | undefined
    for (let attempt = 0; ; attempt++) {
      throwIfAborted(signal)
      await this.client.servers(modelId, config.nLayers, { refresh, signal })
      let hops: Hop[]
      try {
        const plan = this.client.plan(modelId, start, end, this.maxLength, exclude)
        hops = plan.hops.map(h => new Hop(peerAddress(this.client.server(modelId, h.peer)!), h.start, h.end))
        // counted at once, before any await: the next session this client plans sees them (spreading over replicas)
        for (const h of hops) h.held = this.client.hold(h.peer.id)
        uncoveredSince = undefined
      } catch (err) {
        if (full !== undefined) throw full
        if (!(err instanceof NoRouteError)) throw err
        uncoveredSince ??= Date.now()
        // while the blocks have live servers that are only banned for a while (slow, erring), one
        // may come back before the deadline; blocks whose servers are all gone fail within seconds,
        // blocks with no known server after a few lookups (the DHT may not have found it yet)
        const coverage = this.client.coverage(modelId, start, end, exclude)
        const patience = (this.options.noRouteTimeoutMs ?? 2000) * (coverage === 'unknown' ? 4 : 1)
        const giveUpAt = coverage === 'live' ? deadline : Math.min(deadline, uncoveredSince + patience)
        if (Date.now() >= giveUpAt) throw err
        log('%s: %s; looking again', this.sessionId, err.message)
        // first ask the DHT again at once (servers may have joined since), then back off
        if (refresh) await sleep(Math.max(0, Math.min(2000, 250 * 2 ** attempt, giveUpAt - Date.now())))
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
          if (h.failure !== undefined) this.client.penalize(modelId, h.peer.id, h.failure)
          if (isCapacityError(h.failure)) full = h.failure
          void h.finish()
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
        onResult: (step, output, receipt) => { this.onResult(h, step, output, receipt) },
        onFailure: (err) => {
          if (err.code === 'PUSH_FAILED') this.pushFailed = true
          else h.failure ??= err
          this.notify()
        }
      }, { signal: this.signal, payer: this.client.payer })
    }))
    opened.forEach((r, j) => { if (r.status === 'rejected') hops[j]!.failure = r.reason as GridError })
    const failed = opened.find(r => r.status === 'rejected')
    if (failed !== undefined) throw failed.reason
  }

  /** Sends new hops every step before k (pipelined, relayed), in their original boundaries. */
  private async replay (hops: Hop[], k: number, signal: AbortSignal | undefined): Promise<void> {
    // the new hops' histories are the cache as it is: steps cut by rollbacks are sent cut
    const steps = [...hops[0]!.inputs.keys()].filter(s => s < k).sort((a, b) => a - b)
    if (steps.length === 0) return
    const tokens = steps.reduce((sum, s) => sum + hops[0]!.inputs.get(s)!.length, 0) / this.options.config.dim
    for (const h of hops) {
      for (const s of steps) await h.remote!.step(s, this.stepFrom.get(s)!, h.inputs.get(s)!, false).catch(err => { h.failure ??= err })
      const settled = await this.until(() => steps.every(s => h.done.has(s)) || !h.healthy, this.deadline(tokens, [h]), signal)
      if (!h.healthy) throw h.failure ?? new NetworkError('CONNECTION_LOST', `${h.peer.id.slice(-8)} failed during replay`)
      if (!settled) { h.failure = new NetworkError('TIMEOUT', `${h.peer.id.slice(-8)} did not finish the replay in time`); throw h.failure }
    }
    log('%s: replayed %d steps (%d tokens) into %d new hops', this.sessionId, steps.length, tokens, hops.length)
  }

  private onResult (hop: Hop, step: number, output: Float32Array, receipt: Receipt): void {
    const input = hop.inputs.get(step)
    if (input !== undefined && input.length !== output.length) {
      hop.failure ??= new BadOutputError(`${hop.peer.id.slice(-8)} returned ${output.length / this.options.config.dim} rows for a step of ${input.length / this.options.config.dim}`, hop.peer.id)
      this.notify()
      return
    }
    hop.done.add(step)
    hop.record(step, output, receipt)
    const i = this.route.indexOf(hop)
    if (i >= 0 && this.mode === 'push' && step === this.nextStep - 1 && output.length === this.options.config.dim) {
      // push timing: the time since the previous hop's copy (or the send) is this hop's work plus a
      // link (the last hop's also includes the way back): what the planner trusts over claims
      const now = performance.now()
      this.executor.recordHop((now - this.pushSentAt) / 1000)
      this.client.observe(hop.peer.id, (now - this.pushSentAt) / 1000 / (hop.end - hop.start))
      this.pushSentAt = now
    }
    if (i === this.route.length - 1) {
      if (!this.final.has(step) && step === this.nextStep - 1) this.final.set(step, output)
    } else {
      const next = i >= 0 ? this.route[i + 1] : hop.replayNext
      if (next !== undefined && !next.inputs.has(step)) next.inputs.set(step, output)
    }
    this.notify()
  }

  /** After a timeout in push mode: the first hop that has not delivered is the one to replace. */
  private blameSlowest (k: number): void {
    const hop = this.route.find(h => !h.done.has(k))
    if (hop !== undefined) hop.failure ??= new NetworkError('TIMEOUT', `${hop.peer.id.slice(-8)} did not answer step ${k} in time`)
  }

  /**
   * When a step of `tokens` rows through `hops` must have come back: a multiple of the time the
   * client measured for them (a frozen server is abandoned in seconds), or, if one of them has not
   * been timed yet, the fixed allowance.
   */
  private deadline (tokens: number, hops: readonly Hop[] = this.route): number {
    const fixed = (this.options.stepTimeoutMs ?? 30_000) + tokens * (this.options.tokenTimeoutMs ?? 1000)
    let seconds = 0
    for (const h of hops) {
      const perBlock = this.client.observedBlockSeconds(h.peer.id)
      if (perBlock === undefined) return Date.now() + fixed
      seconds += perBlock * (h.end - h.start)
    }
    const measured = (this.options.stepTimeoutFactor ?? 20) * seconds * tokens * 1000
    return Date.now() + Math.min(fixed, Math.max(this.options.minStepTimeoutMs ?? 5000, measured))
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

  private emit (reason: RouteReason): void {
    this.executor.countRoute(reason)
    const hops = this.route.map(h => ({ peer: h.peer.id, start: h.start, end: h.end }))
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

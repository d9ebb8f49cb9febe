/**
 * The server side of `/gridllm/span/1.0.0`: sessions over the spans a peer serves. Every bad
 * request gets a typed error reply on the stream it came from (and the session's owner hears
 * about failures of pushed steps); nothing a client sends can stop the server serving others.
 *
 * Assume every peer is hostile. What one peer can hold is bounded: sessions and its share of the
 * KV cache (admission.ts), streams per connection and bytes of unfinished messages (node.ts),
 * queued steps; compute is shared out in turns between the peers that own sessions (FairQueue);
 * sessions idle for `sessionIdleMs` are closed; a push goes only to a checked server (span-push.ts);
 * hidden states with NaN or infinity are refused, never computed on or passed along.
 */
import type { SpanSession, StepCost } from '../model/index.ts'
import { DEFAULT_MAX_FRAME_BYTES, type FrameDType, decodeFrame, encodeFrame } from '../tensor/index.ts'
import { ContextOverflowError, NetworkError, NonFiniteError, ProtocolError, ServeError, SessionError, ShapeMismatchError } from '../util/errors.ts'
import { sha256Hex, toHex } from '../util/digest.ts'
import { unref } from '../util/bytes.ts'
import { timed } from '../util/clock.ts'
import { FairQueue } from '../util/fair-queue.ts'
import { logger } from '../util/log.ts'
import { Admission, type AdmissionLimits, DEFAULT_ADMISSION } from './admission.ts'
import { type Channel, MAX_HEADER_BYTES, type Message } from './channel.ts'
import { type StepCommitment, claimBytes } from './commitment.ts'
import type { NetNode } from './node.ts'
import { type OpenMsg, SPAN_PROTOCOL, type StepMsg, errorMsg, parseSpanMsg } from './protocol.ts'
import type { PaymentGate, SessionMeter } from './payment.ts'
import { type NextHopCheck, PushLink } from './span-push.ts'

const log = logger('net:server')
/** one line per step with its compute time: DEBUG=gridllm:net:steps */
const stepLog = logger('net:steps')
/** steps handed to the host at once: as many as one batched forward usually carries */
export const DEFAULT_CONCURRENT_STEPS = 32

/** What a server serves: sessions over sub-ranges of its layers. */
export interface SpanHost {
  readonly modelId: string
  readonly dim: number
  /** tokens of KV cache new sessions can still get */
  readonly freeCacheTokens: number
  /** bytes of KV cache all sessions together may take */
  readonly cacheBudgetBytes: number
  /** bytes of KV cache a session over [start, end) of maxLength tokens takes */
  cacheBytes (start: number, end: number, maxLength: number): number
  /**
   * Opens a session over [start, end); throws SPAN_NOT_SERVED, CACHE_BUDGET_EXCEEDED... It must
   * reserve its cache before its first await, so concurrent opens cannot overbook.
   */
  open (sessionId: string, start: number, end: number, maxLength: number): Promise<SpanSession>
}

export interface SpanServerOptions extends Partial<AdmissionLimits> {
  /** the most data bytes of one tensor frame; default 64 MiB */
  maxFrameBytes?: number
  /** the most tokens one session may hold */
  maxSessionLength?: number
  /** steps one peer may have waiting or running; default 64 */
  maxQueuedStepsPerPeer?: number
  /** steps (of any sessions) handed to the host at once, for it to batch into one forward; default 32 */
  concurrentSteps?: number
  /** a session with no message for this long is closed; default 120 s */
  sessionIdleMs?: number
  /** streams of the span protocol one connection may have open; default 256 */
  maxStreamsPerConnection?: number
  /** bytes of unfinished messages one peer may hold; default 2 × (max frame + header) */
  maxBufferedBytesPerPeer?: number
  /** confirms push targets; without it this server refuses to push */
  checkNextHop?: NextHopCheck
  /** payments (the ledger): what sessions must pay, and each peer's priority in the compute queue; none: everything is free */
  payments?: PaymentGate
}

interface ServerSession {
  readonly id: string
  readonly owner: Channel
  readonly start: number
  readonly end: number
  readonly dtype: FrameDType
  /** set once the host opened it */
  local: SpanSession | undefined
  push: PushLink | undefined
  /** its payments, when the server charges */
  meter: SessionMeter | undefined
  lastStep: number
  lastOutput: Uint8Array | undefined
  lastCommitment: StepCommitment | null
  lastActiveAt: number
  /** messages run one at a time, in arrival order, starting with the open */
  queue: Promise<void>
  /** a close was asked for (or the session failed to open): later messages are refused */
  closing: boolean
  closed: boolean
  release: () => void
}

export class SpanServer {
  private readonly sessions = new Map<string, ServerSession>()
  private readonly maxFrameBytes: number
  private readonly maxSessionLength: number
  private readonly admission: Admission
  private readonly compute: FairQueue
  private readonly idleTimer: NodeJS.Timeout
  private stopped = false

  constructor (private readonly node: NetNode, private host: SpanHost, private readonly options: SpanServerOptions = {}) {
    this.maxFrameBytes = options.maxFrameBytes ?? DEFAULT_MAX_FRAME_BYTES
    this.maxSessionLength = options.maxSessionLength ?? Number.MAX_SAFE_INTEGER
    this.admission = new Admission({
      maxSessions: options.maxSessions ?? DEFAULT_ADMISSION.maxSessions,
      maxSessionsPerPeer: options.maxSessionsPerPeer ?? DEFAULT_ADMISSION.maxSessionsPerPeer,
      peerCacheShare: options.peerCacheShare ?? DEFAULT_ADMISSION.peerCacheShare
    }, () => this.host.cacheBudgetBytes)
    const payments = options.payments
    this.compute = new FairQueue(options.maxQueuedStepsPerPeer ?? 64, 1000, payments === undefined ? undefined : peer => payments.priority(peer),
      options.concurrentSteps ?? DEFAULT_CONCURRENT_STEPS)
    const idleMs = options.sessionIdleMs ?? 120_000
    this.idleTimer = unref(setInterval(() => { this.expireIdle(idleMs) }, Math.min(idleMs / 4, 10_000)))
  }

  async start (): Promise<void> {
    const maxMessageBytes = this.maxFrameBytes + MAX_HEADER_BYTES + 64
    await this.node.handle(SPAN_PROTOCOL, channel => { this.accept(channel) }, {
      maxMessageBytes,
      replyToBadInput: err => errorMsg(err),
      maxStreamsPerConnection: this.options.maxStreamsPerConnection,
      maxBufferedBytesPerPeer: this.options.maxBufferedBytesPerPeer
    })
  }

  get openSessions (): number {
    return this.sessions.size
  }

  /** Sessions and cache bytes one peer holds here. */
  usage (peer: string): { sessions: number, bytes: number } {
    return { ...this.admission.usage(peer) }
  }

  /** Serves a different host from now on (sessions already open keep theirs). */
  setHost (host: SpanHost): void {
    this.host = host
  }

  /** Closes every session. */
  async stop (): Promise<void> {
    this.stopped = true
    clearInterval(this.idleTimer)
    await Promise.allSettled([...this.sessions.values()].map(async s => { await this.enqueue(s, async () => { await this.closeSession(s) }); await s.owner.close() }))
  }

  private accept (channel: Channel): void {
    channel.onMessage(msg => { this.dispatch(channel, msg) })
    channel.onClose(err => {
      if (err !== undefined && err.code !== 'CONNECTION_LOST') log('closed the stream from %s: %s', channel.peer.slice(-8), err.message)
      for (const s of this.sessions.values()) {
        if (s.owner === channel) { s.closing = true; void this.enqueue(s, async () => { await this.closeSession(s) }) }
      }
    })
  }

  private reply (channel: Channel, err: unknown, session: string | null = null, step: number | null = null): void {
    log('error to %s (session %s step %s): %s', channel.peer.slice(-8), session, step, (err as Error).message)
    channel.send(errorMsg(err, session, step)).catch(() => {})
  }

  private dispatch (channel: Channel, raw: Message): void {
    let msg
    try {
      msg = parseSpanMsg(raw)
    } catch (err) {
      this.reply(channel, err, typeof raw.header.session === 'string' ? raw.header.session : null)
      return
    }
    if (msg.t === 'open') { this.open(channel, msg); return }
    if (msg.t === 'pay') { this.pay(channel, msg); return }
    if (msg.t === 'opened' || msg.t === 'result' || msg.t === 'error') {
      this.reply(channel, new ProtocolError('BAD_MESSAGE', `a server does not take "${msg.t}" messages`), msg.session)
      return
    }
    const s = this.sessions.get(msg.session)
    const step = msg.t === 'step' ? msg.step : null
    if (s === undefined) {
      this.reply(channel, new SessionError('UNKNOWN_SESSION', `no session ${msg.session} here`), msg.session, step)
      return
    }
    // only the owner steers a session; steps may also come pushed from the previous server
    if (msg.t !== 'step' && channel !== s.owner) {
      this.reply(channel, new SessionError('UNKNOWN_SESSION', `no session ${msg.session} of yours here`), msg.session)
      return
    }
    if (s.closing) {
      this.reply(channel, new SessionError('SESSION_CLOSED', `session ${s.id} is closed`), s.id, step)
      return
    }
    s.lastActiveAt = Date.now()
    switch (msg.t) {
      case 'step':
        void this.enqueue(s, async () => { await this.step(s, channel, msg, raw.payload) },
          () => { this.reply(channel, new SessionError('SESSION_CLOSED', `session ${s.id} is closed`), s.id, msg.step) })
        break
      case 'next':
        void this.enqueue(s, async () => {
          const old = s.push
          s.push = msg.next === null ? undefined : this.pushLink(s, msg.next)
          await old?.close()
        })
        break
      case 'rollback':
        // step ids keep rising across rollbacks (a signed step is never redone under its id), and
        // a late copy of the last step still gets its result again
        void this.enqueue(s, async () => { await s.local!.rollback(msg.position) })
        break
      case 'close':
        s.closing = true
        void this.enqueue(s, async () => { await this.closeSession(s) })
        break
    }
  }

  /** Admits the session at once (so steps right behind the open queue up after it), then opens it. */
  private open (channel: Channel, msg: OpenMsg): void {
    let release: () => void
    try {
      if (this.stopped) throw new NetworkError('CONNECTION_LOST', 'the server is shutting down')
      if (msg.model !== this.host.modelId) throw new ServeError('WRONG_MODEL', `this server runs model ${this.host.modelId}, not ${msg.model}`)
      if (this.sessions.has(msg.session)) throw new SessionError('SESSION_EXISTS', `session ${msg.session} is already open`)
      if (msg.maxLength > this.maxSessionLength) throw new ContextOverflowError(`sessions here hold at most ${this.maxSessionLength} tokens, asked for ${msg.maxLength}`)
      release = this.admission.admit(channel.peer, this.host.cacheBytes(msg.start, msg.end, msg.maxLength))
    } catch (err) {
      this.reply(channel, err, msg.session)
      return
    }
    const s: ServerSession = {
      id: msg.session, owner: channel, start: msg.start, end: msg.end, dtype: msg.dtype, local: undefined, push: undefined, meter: undefined,
      lastStep: -1, lastOutput: undefined, lastCommitment: null, lastActiveAt: Date.now(), queue: Promise.resolve(), closing: false, closed: false, release
    }
    this.sessions.set(s.id, s)
    void this.enqueue(s, async () => {
      try {
        s.meter = await this.options.payments?.open(channel.peer, { session: msg.session, model: msg.model, start: msg.start, end: msg.end }, msg.payment)
        s.local = await this.host.open(msg.session, msg.start, msg.end, msg.maxLength)
      } catch (err) {
        s.closing = true
        await this.closeSession(s)
        throw err
      }
      if (msg.next !== null) s.push = this.pushLink(s, msg.next)
      log('open %s [%d, %d) for %s, next %s', msg.session, msg.start, msg.end, channel.peer.slice(-8), msg.next?.peer.slice(-8) ?? '-')
      await channel.send({ t: 'opened', session: msg.session, freeCacheTokens: this.host.freeCacheTokens })
    })
  }

  /** A payment: taken at once (a step may be waiting for it in the session's queue). */
  private pay (channel: Channel, msg: { session: string, tokens: number, preimage: string }): void {
    const s = this.sessions.get(msg.session)
    if (s === undefined || s.owner !== channel) { this.reply(channel, new SessionError('UNKNOWN_SESSION', `no session ${msg.session} of yours here`), msg.session); return }
    if (s.closing) return
    s.lastActiveAt = Date.now()
    if (s.meter === undefined) {
      // the open may still be on its way through the queue: the payment follows it there
      void this.enqueue(s, async () => { this.takePayment(s, msg) })
      return
    }
    this.takePayment(s, msg)
  }

  private takePayment (s: ServerSession, msg: { tokens: number, preimage: string }): void {
    try {
      if (s.meter === undefined) throw new ProtocolError('BAD_MESSAGE', 'this session is free: there is nothing to pay')
      s.meter.pay(msg.tokens, msg.preimage)
    } catch (err) {
      this.reply(s.owner, err, s.id)
    }
  }

  private pushLink (s: ServerSession, next: NonNullable<OpenMsg['next']>): PushLink {
    return new PushLink(this.node, next, s.end, this.options.checkNextHop, this.maxFrameBytes, (err, step) => {
      if (!s.closed) this.reply(s.owner, err, s.id, step)
    })
  }

  /** Runs `task` after the session's earlier messages; `skipped` is told if the session closed first. */
  private async enqueue (s: ServerSession, task: () => Promise<void>, skipped?: () => void): Promise<void> {
    s.queue = s.queue.then(async () => { if (!s.closed) await task(); else skipped?.() })
      .catch(err => { log('session %s: %s', s.id, (err as Error).message); this.reply(s.owner, err, s.id) })
    await s.queue
  }

  private async step (s: ServerSession, from: Channel, msg: StepMsg, payload: Uint8Array): Promise<void> {
    const fail = (err: unknown): void => {
      this.reply(from, err, s.id, msg.step)
      if (from !== s.owner) this.reply(s.owner, err, s.id, msg.step)
    }
    if (msg.step === s.lastStep && s.lastOutput !== undefined) {
      // a step already done (a pushed copy and a relayed copy both arrived): resend the output
      await s.owner.send({ t: 'result', session: s.id, step: msg.step, commitment: s.lastCommitment }, s.lastOutput).catch(() => {})
      return
    }
    if (msg.step <= s.lastStep) { fail(new SessionError('BAD_POSITIONS', `step ${msg.step} comes after step ${s.lastStep}`)); return }
    let output: Uint8Array
    let commitment: StepCommitment
    try {
      const frame = decodeFrame(payload, { maxBytes: this.maxFrameBytes })
      const dim = this.host.dim
      if (frame.shape.length !== 2 || frame.shape[1] !== dim || frame.shape[0] === 0) {
        throw new ShapeMismatchError(`hidden state must be (n, ${dim}), got (${frame.shape.join(', ')})`)
      }
      checkFinite(frame.data, dim, 'the input')
      const positions = Array.from({ length: frame.shape[0]! }, (_, i) => msg.from + i)
      // a step may start before the cache's end: the positions from `from` on are dropped first
      // (speculative decoding's rejected drafts), a rollback that travels with the step itself
      if (msg.from < s.local!.length) await s.local!.rollback(msg.from)
      // what was computed before must be paid for: unpaid work is at most one step
      await s.meter?.beforeStep(positions.length)
      const t0 = performance.now()
      // (n, dim); this step's share of its (batched) forward's wall and CPU time goes to the step log
      // (a host that does not tell its cost is timed around the call)
      let cost: StepCost | undefined
      const { value: out, ...whole } = await this.compute.run(s.owner.peer, async () => await timed(async () => await s.local!.forward(frame.data, positions, { onCost: c => { cost = c } })))
      s.meter?.afterStep(positions.length)
      checkFinite(out, dim, 'the output')
      output = encodeFrame(out, frame.shape, { dtype: s.dtype, maxBytes: this.maxFrameBytes })
      commitment = await this.commit(s, msg, positions.length, payload, output)
      if (stepLog.enabled) {
        const { ms, cpuMs } = cost ?? whole
        const batch = cost === undefined ? '' : `, batch of ${cost.batchSteps} steps ${cost.batchRows} rows`
        stepLog('%s step %d: %d rows, forward %s ms, cpu %s ms, in %s ms%s', s.id, msg.step, positions.length,
          ms.toFixed(2), cpuMs.toFixed(2), (performance.now() - t0).toFixed(2), batch)
      }
    } catch (err) {
      fail(err)
      const code = (err as { code?: string }).code
      if (code === 'PAYMENT_REQUIRED' || code === 'PAYMENT_INVALID' || code === 'ACCOUNT_REFUSED') {
        // a consumer that does not pay is refused: its session ends here
        s.closing = true
        await this.closeSession(s)
      }
      return
    }
    s.lastStep = msg.step
    s.lastOutput = output
    s.lastCommitment = commitment
    if (msg.push && s.push !== undefined) await s.push.send(msg.step, msg.from, null, output)
    await s.owner.send({ t: 'result', session: s.id, step: msg.step, commitment }, output).catch(() => {})
  }

  /** Signs what this step computed: the claim a fraud proof would hold against us if it were wrong. */
  private async commit (s: ServerSession, msg: StepMsg, rows: number, input: Uint8Array, output: Uint8Array): Promise<StepCommitment> {
    const claim = {
      model: this.host.modelId, start: s.start, end: s.end, session: s.id, step: msg.step, from: msg.from, rows,
      input: sha256Hex(input), output: sha256Hex(output)
    }
    return { input: claim.input, output: claim.output, sig: toHex(await this.node.sign(claimBytes(claim))) }
  }

  /** Closes sessions whose owner sent nothing for `idleMs`, telling the owner why. */
  private expireIdle (idleMs: number): void {
    const now = Date.now()
    for (const s of this.sessions.values()) {
      if (s.closing || now - s.lastActiveAt < idleMs) continue
      log('session %s of %s idle for %d ms: closing it', s.id, s.owner.peer.slice(-8), now - s.lastActiveAt)
      s.closing = true
      this.reply(s.owner, new SessionError('SESSION_CLOSED', `session ${s.id} was idle for more than ${idleMs} ms and is closed`), s.id)
      void this.enqueue(s, async () => { await this.closeSession(s) })
    }
  }

  private async closeSession (s: ServerSession): Promise<void> {
    if (s.closed) return
    s.closed = true
    s.closing = true
    this.sessions.delete(s.id)
    s.release()
    s.meter?.close()
    await s.local?.close()
    await s.push?.close()
    log('closed %s', s.id)
  }
}

/** Refuses a hidden state holding NaN or infinity. */
function checkFinite (x: Float32Array, dim: number, what: string): void {
  for (let i = 0; i < x.length; i++) {
    if (!Number.isFinite(x[i]!)) throw new NonFiniteError(`${what} holds ${x[i]} in row ${Math.floor(i / dim)}, column ${i % dim}`)
  }
}

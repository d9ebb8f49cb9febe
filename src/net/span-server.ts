/**
 * The server side of `/gridllm/span/1.0.0`: sessions over the spans a peer serves. Every bad
 * request gets a typed error reply on the stream it came from (and the session's owner hears
 * about failures of pushed steps); nothing a client sends can stop the server serving others.
 */
import type { SpanSession } from '../model/index.ts'
import { DEFAULT_MAX_FRAME_BYTES, type FrameDType, decodeFrame, encodeFrame } from '../tensor/index.ts'
import { ContextOverflowError, GridError, NetworkError, ProtocolError, ServeError, SessionError, ShapeMismatchError } from '../util/errors.ts'
import { logger } from '../util/log.ts'
import { type Channel, MAX_HEADER_BYTES, type Message } from './channel.ts'
import type { NetNode } from './node.ts'
import { type NextHop, type OpenMsg, SPAN_PROTOCOL, type StepMsg, errorMsg, parseSpanMsg } from './protocol.ts'

const log = logger('net:server')
/** one line per step with its compute time: DEBUG=gridllm:net:steps */
const stepLog = logger('net:steps')

/** What a server serves: sessions over sub-ranges of its layers. */
export interface SpanHost {
  readonly modelId: string
  readonly dim: number
  /** tokens of KV cache new sessions can still get */
  readonly freeCacheTokens: number
  /** opens a session over [start, end); throws SPAN_NOT_SERVED, CACHE_BUDGET_EXCEEDED, CONTEXT_OVERFLOW… */
  open (sessionId: string, start: number, end: number, maxLength: number): Promise<SpanSession>
}

export interface SpanServerOptions {
  /** the most data bytes of one tensor frame; default 64 MiB */
  maxFrameBytes?: number
  /** the most tokens one session may hold */
  maxSessionLength?: number
}

interface ServerSession {
  readonly id: string
  readonly owner: Channel
  readonly local: SpanSession
  readonly dtype: FrameDType
  next: NextHop | null
  push: Channel | undefined
  lastStep: number
  lastOutput: Uint8Array | undefined
  /** steps, rollbacks and the close run one at a time, in arrival order */
  queue: Promise<void>
  closed: boolean
}

export class SpanServer {
  private readonly sessions = new Map<string, ServerSession>()
  private readonly maxFrameBytes: number
  private readonly maxSessionLength: number
  private stopped = false

  constructor (private readonly node: NetNode, private host: SpanHost, options: SpanServerOptions = {}) {
    this.maxFrameBytes = options.maxFrameBytes ?? DEFAULT_MAX_FRAME_BYTES
    this.maxSessionLength = options.maxSessionLength ?? Number.MAX_SAFE_INTEGER
  }

  async start (): Promise<void> {
    await this.node.handle(SPAN_PROTOCOL, channel => { this.accept(channel) }, {
      maxMessageBytes: this.maxFrameBytes + MAX_HEADER_BYTES + 64,
      replyToBadInput: err => errorMsg(err)
    })
  }

  get openSessions (): number {
    return this.sessions.size
  }

  /** Serves a different host from now on (sessions already open keep theirs). */
  setHost (host: SpanHost): void {
    this.host = host
  }

  /** Closes every session. */
  async stop (): Promise<void> {
    this.stopped = true
    await Promise.allSettled([...this.sessions.values()].map(async s => { await this.closeSession(s); await s.owner.close() }))
  }

  private accept (channel: Channel): void {
    channel.onMessage(msg => { this.dispatch(channel, msg) })
    channel.onClose(err => {
      if (err !== undefined && err.code !== 'CONNECTION_LOST') log('closed the stream from %s: %s', channel.peer.slice(-8), err.message)
      for (const s of this.sessions.values()) if (s.owner === channel) void this.enqueue(s, async () => { await this.closeSession(s) })
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
    if (msg.t === 'open') { void this.open(channel, msg); return }
    if (msg.t === 'opened' || msg.t === 'result' || msg.t === 'error') {
      this.reply(channel, new ProtocolError('BAD_MESSAGE', `a server does not take "${msg.t}" messages`), msg.session)
      return
    }
    const s = this.sessions.get(msg.session)
    if (s === undefined) {
      this.reply(channel, new SessionError('UNKNOWN_SESSION', `no session ${msg.session} here`), msg.session, msg.t === 'step' ? msg.step : null)
      return
    }
    switch (msg.t) {
      case 'step': void this.enqueue(s, async () => { await this.step(s, channel, msg, raw.payload) }); break
      case 'next':
        void this.enqueue(s, async () => {
          const old = s.push
          s.next = msg.next
          s.push = undefined
          await old?.close()
        })
        break
      case 'rollback': void this.enqueue(s, async () => { await s.local.rollback(msg.position); s.lastStep = -1; s.lastOutput = undefined }); break
      case 'close': void this.enqueue(s, async () => { await this.closeSession(s) }); break
    }
  }

  private async open (channel: Channel, msg: OpenMsg): Promise<void> {
    try {
      if (this.stopped) throw new NetworkError('CONNECTION_LOST', 'the server is shutting down')
      if (msg.model !== this.host.modelId) throw new ServeError('WRONG_MODEL', `this server runs model ${this.host.modelId}, not ${msg.model}`)
      if (this.sessions.has(msg.session)) throw new SessionError('SESSION_EXISTS', `session ${msg.session} is already open`)
      if (msg.maxLength > this.maxSessionLength) throw new ContextOverflowError(`sessions here hold at most ${this.maxSessionLength} tokens, asked for ${msg.maxLength}`)
      const local = await this.host.open(msg.session, msg.start, msg.end, msg.maxLength)
      if (!channel.isOpen || this.sessions.has(msg.session)) { await local.close(); return }
      this.sessions.set(msg.session, {
        id: msg.session, owner: channel, local, dtype: msg.dtype, next: msg.next, push: undefined, lastStep: -1, lastOutput: undefined, queue: Promise.resolve(), closed: false
      })
      log('open %s [%d, %d) for %s, next %s', msg.session, msg.start, msg.end, channel.peer.slice(-8), msg.next?.peer.slice(-8) ?? '-')
      await channel.send({ t: 'opened', session: msg.session, freeCacheTokens: this.host.freeCacheTokens })
    } catch (err) {
      this.reply(channel, err, msg.session)
    }
  }

  private async enqueue (s: ServerSession, task: () => Promise<void>): Promise<void> {
    s.queue = s.queue.then(async () => { if (!s.closed) await task() }).catch(err => { log('session %s: %s', s.id, (err as Error).message); this.reply(s.owner, err, s.id) })
    await s.queue
  }

  private async step (s: ServerSession, from: Channel, msg: StepMsg, payload: Uint8Array): Promise<void> {
    const fail = (err: unknown): void => {
      this.reply(from, err, s.id, msg.step)
      if (from !== s.owner) this.reply(s.owner, err, s.id, msg.step)
    }
    if (msg.step === s.lastStep && s.lastOutput !== undefined) {
      // a step already done (a pushed copy and a relayed copy both arrived): resend the output
      await s.owner.send({ t: 'result', session: s.id, step: msg.step, commitment: null }, s.lastOutput).catch(() => {})
      return
    }
    if (msg.step <= s.lastStep) { fail(new SessionError('BAD_POSITIONS', `step ${msg.step} comes after step ${s.lastStep}`)); return }
    let output: Uint8Array
    try {
      const frame = decodeFrame(payload, { maxBytes: this.maxFrameBytes })
      const dim = this.host.dim
      if (frame.shape.length !== 2 || frame.shape[1] !== dim || frame.shape[0] === 0) {
        throw new ShapeMismatchError(`hidden state must be (n, ${dim}), got (${frame.shape.join(', ')})`)
      }
      const positions = Array.from({ length: frame.shape[0]! }, (_, i) => msg.from + i)
      const t0 = performance.now()
      const out = await s.local.forward(frame.data, positions) // (n, dim)
      output = encodeFrame(out, frame.shape, { dtype: s.dtype, maxBytes: this.maxFrameBytes })
      stepLog('%s step %d: %d rows in %s ms', s.id, msg.step, positions.length, (performance.now() - t0).toFixed(2))
    } catch (err) {
      fail(err)
      return
    }
    s.lastStep = msg.step
    s.lastOutput = output
    if (msg.push && s.next !== null) await this.push(s, msg, output)
    await s.owner.send({ t: 'result', session: s.id, step: msg.step, commitment: null }, output).catch(() => {})
  }

  /** Sends a step's output on to the next hop's session; failures go to the session's owner. */
  private async push (s: ServerSession, msg: StepMsg, output: Uint8Array): Promise<void> {
    const next = s.next!
    try {
      if (s.push === undefined || !s.push.isOpen) {
        const channel = await this.node.open({ id: next.peer, addrs: next.addrs }, SPAN_PROTOCOL, { maxMessageBytes: this.maxFrameBytes + MAX_HEADER_BYTES + 64 })
        channel.onMessage(raw => {
          const m = parseSpanMsg(raw)
          if (m.t === 'error') this.pushFailed(s, channel, m.step, new GridError(m.code, m.message))
        })
        channel.onClose(err => { if (err !== undefined) this.pushFailed(s, channel, null, err) })
        s.push = channel
      }
      await s.push.send({ t: 'step', session: next.session, step: msg.step, from: msg.from, push: true, commitment: msg.commitment }, output)
    } catch (err) {
      this.pushFailed(s, s.push, msg.step, err as Error)
    }
  }

  private pushFailed (s: ServerSession, channel: Channel | undefined, step: number | null, err: Error): void {
    if (s.closed || (channel !== undefined && channel !== s.push)) return
    const code = (err as GridError).code ?? 'INTERNAL'
    const failure = new NetworkError('PUSH_FAILED', `push to the next hop ${s.next?.peer.slice(-8) ?? '?'} failed: [${code}] ${err.message}`)
    this.reply(s.owner, failure, s.id, step)
  }

  private async closeSession (s: ServerSession): Promise<void> {
    if (s.closed) return
    s.closed = true
    this.sessions.delete(s.id)
    await s.local.close()
    await s.push?.close().catch(() => {})
    log('closed %s', s.id)
  }
}

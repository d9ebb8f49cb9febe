/**
 * The client side of one hop: a session at one server over one long-lived stream. It sends steps
 * and reports every result copy and every failure to its owner (the swarm's chain session), which
 * decides what to wait for, what to retry and whom to ban.
 */
import { DEFAULT_MAX_FRAME_BYTES, type FrameDType, decodeFrame, encodeFrame } from '../tensor/index.ts'
import { BadOutputError, GridError, NetworkError, RemoteError, throwIfAborted } from '../util/errors.ts'
import { logger } from '../util/log.ts'
import { sha256Hex } from '../util/digest.ts'
import { deadline } from '../util/timeout.ts'
import { type Channel, MAX_HEADER_BYTES } from './channel.ts'
import type { StepCommitment } from './commitment.ts'
import type { NetNode, PeerAddress } from './node.ts'
import type { HopPayer, HopPayment } from './payment.ts'
import { type NextHop, SPAN_PROTOCOL, parseSpanMsg } from './protocol.ts'

const log = logger('net:client')

export interface RemoteOpenRequest {
  readonly session: string
  readonly model: string
  readonly start: number
  readonly end: number
  readonly maxLength: number
  readonly dtype?: FrameDType
  readonly next?: NextHop | null
}

/** What a server handed over with a result: its signed commitment, and the digest of the frame it sent. */
export interface Receipt {
  readonly commitment: StepCommitment | null
  /** SHA-256 (hex) of the output frame as received */
  readonly outputDigest: string
}

export interface RemoteSessionEvents {
  /** a result copy: this hop's output for `step`, (n, dim) */
  onResult (step: number, output: Float32Array, receipt: Receipt): void
  /** an error reply or a broken stream; `step` when the error names one */
  onFailure (err: GridError, step: number | null): void
}

export class RemoteSpanSession {
  private failed = false
  freeCacheTokens = 0
  private payment: HopPayment | undefined
  /** steps whose result came (each counted once: a resent result is the same work) and the rows they held */
  private readonly counted = new Set<number>()
  private resultRows = 0
  /** steps sent and not yet answered: rows each */
  private readonly inflight = new Map<number, number>()
  private paidRows = 0

  private constructor (
    readonly peer: PeerAddress,
    readonly request: RemoteOpenRequest,
    private readonly channel: Channel,
    private readonly dim: number,
    private readonly maxFrameBytes: number
  ) {}

  /** Opens a session at `peer` and waits for its acknowledgement. */
  static async open (node: NetNode, peer: PeerAddress, request: RemoteOpenRequest, dim: number, events: RemoteSessionEvents,
    options: { signal?: AbortSignal, timeoutMs?: number, maxFrameBytes?: number, payer?: HopPayer } = {}): Promise<RemoteSpanSession> {
    const maxFrameBytes = options.maxFrameBytes ?? DEFAULT_MAX_FRAME_BYTES
    const timeoutMs = options.timeoutMs ?? 15_000
    // a real timer (not AbortSignal.timeout, which can be collected before it fires) bounds the whole open
    const limit = deadline(timeoutMs, options.signal, () => new NetworkError('TIMEOUT', `opening a session at ${peer.id.slice(-8)} timed out after ${timeoutMs} ms`))
    const { signal } = limit
    let channel: Channel
    let payment: HopPayment | undefined
    try {
      payment = await options.payer?.open(peer.id, request)
      channel = await node.open(peer, SPAN_PROTOCOL, { signal, maxMessageBytes: maxFrameBytes + MAX_HEADER_BYTES + 64 })
    } catch (err) {
      payment?.close()
      limit.clear()
      throw err
    }
    const session = new RemoteSpanSession(peer, request, channel, dim, maxFrameBytes)
    session.payment = payment
    const opened = Promise.withResolvers<void>()
    // the stream may close after a failed send already ended this function: nobody awaits then
    opened.promise.catch(() => {})
    let isOpen = false
    channel.onMessage(raw => {
      let msg
      try {
        msg = parseSpanMsg(raw)
      } catch (err) {
        channel.abort(err as GridError)
        return
      }
      if (msg.t === 'opened' && !isOpen) { isOpen = true; session.freeCacheTokens = msg.freeCacheTokens; opened.resolve(); return }
      if (msg.t === 'error') {
        const err = new RemoteError(msg.code, msg.message, peer.id, msg.retryAfterMs)
        if (!isOpen) opened.reject(err)
        else session.fail(events, err, msg.step)
        return
      }
      if (msg.t === 'result' && isOpen) {
        let output: Float32Array
        try {
          output = checkedOutput(raw.payload, dim, maxFrameBytes, msg.step, peer.id)
        } catch (err) {
          session.fail(events, err as GridError, msg.step)
          return
        }
        session.paidFor(msg.step, output.length / dim)
        events.onResult(msg.step, output, { commitment: msg.commitment, outputDigest: sha256Hex(raw.payload) })
      }
    })
    channel.onClose(err => {
      session.endPayment()
      const failure = err ?? new NetworkError('CONNECTION_LOST', `session at ${peer.id.slice(-8)} closed`)
      if (!isOpen) opened.reject(failure)
      else if (err !== undefined) session.fail(events, failure, null)
    })
    const abort = (): void => {
      const why = signal.reason instanceof GridError ? signal.reason : new NetworkError('TIMEOUT', `opening a session at ${peer.id.slice(-8)} timed out`)
      opened.reject(why)
      channel.abort(why)
    }
    if (signal.aborted) abort()
    else signal.addEventListener('abort', abort, { once: true })
    try {
      await channel.send({ t: 'open', session: request.session, model: request.model, start: request.start, end: request.end, maxLength: request.maxLength, dtype: request.dtype ?? 'f32', next: request.next ?? null, payment: payment?.commitment ?? null })
      await opened.promise
    } catch (err) {
      channel.abort(err as GridError)
      throwIfAborted(options.signal)
      throw err
    } finally {
      signal.removeEventListener('abort', abort)
      limit.clear()
    }
    log('opened %s at %s [%d, %d)', request.session, peer.id.slice(-8), request.start, request.end)
    return session
  }

  get isOpen (): boolean {
    return this.channel.isOpen && !this.failed
  }

  /** Sends hidden (n, dim) at positions from .. from + n - 1. */
  async step (step: number, from: number, hidden: Float32Array, push: boolean): Promise<void> {
    const frame = encodeFrame(hidden, [hidden.length / this.dim, this.dim], { dtype: this.request.dtype, maxBytes: this.maxFrameBytes })
    if (this.payment !== undefined && !this.counted.has(step)) {
      // steps sent before this one and not yet answered (a replay sends them back to back) are paid
      // ahead, since the server computes this one only once those are paid
      let ahead = this.resultRows
      for (const [k, rows] of this.inflight) if (k !== step) ahead += rows
      this.sendPay(ahead)
      this.inflight.set(step, hidden.length / this.dim)
    }
    await this.channel.send({ t: 'step', session: this.request.session, step, from, push, commitment: null }, frame)
  }

  async setNext (next: NextHop | null): Promise<void> {
    await this.channel.send({ t: 'next', session: this.request.session, next })
  }

  async rollback (position: number): Promise<void> {
    await this.channel.send({ t: 'rollback', session: this.request.session, position })
  }

  /** A result of `rows` rows for `step` came: the first copy of each step is paid for. */
  private paidFor (step: number, rows: number): void {
    if (this.payment === undefined || this.counted.has(step)) return
    this.counted.add(step)
    this.inflight.delete(step)
    this.resultRows += rows
    this.sendPay(this.resultRows)
  }

  private sendPay (tokens: number): void {
    if (this.payment === undefined || tokens <= this.paidRows || !this.channel.isOpen) return
    this.paidRows = tokens
    this.channel.send({ t: 'pay', session: this.request.session, tokens, preimage: this.payment.preimage(tokens) }).catch(() => {})
  }

  /** Tokens paid for so far. */
  get paidTokens (): number {
    return this.paidRows
  }

  private endPayment (): void {
    const p = this.payment
    this.payment = undefined
    p?.close()
  }

  /** Closes the session and its stream; never throws. */
  async close (): Promise<void> {
    this.endPayment()
    this.failed = true
    if (!this.channel.isOpen) return
    await this.channel.send({ t: 'close', session: this.request.session }).catch(() => {})
    await this.channel.close().catch(() => {})
  }

  private fail (events: RemoteSessionEvents, err: GridError, step: number | null): void {
    if (this.failed) return
    // a PUSH_FAILED error is about the next hop; this session is still fine
    if (err.code !== 'PUSH_FAILED') this.failed = true
    events.onFailure(err, step)
  }
}

/** A result's output (n, dim), or BAD_OUTPUT if it cannot be one: undecodable, the wrong shape, NaN or infinity. */
function checkedOutput (payload: Uint8Array, dim: number, maxBytes: number, step: number, peer: string): Float32Array {
  let frame
  try {
    frame = decodeFrame(payload, { maxBytes })
  } catch (err) {
    throw new BadOutputError(`the result of step ${step} from ${peer.slice(-8)} is not a valid frame: ${(err as Error).message}`, peer, { cause: err })
  }
  if (frame.shape.length !== 2 || frame.shape[1] !== dim) throw new BadOutputError(`the result of step ${step} from ${peer.slice(-8)} has shape (${frame.shape.join(', ')}), not (n, ${dim})`, peer)
  const out = frame.data
  for (let i = 0; i < out.length; i++) {
    if (!Number.isFinite(out[i]!)) throw new BadOutputError(`the result of step ${step} from ${peer.slice(-8)} holds ${out[i]}`, peer)
  }
  return out
}

/**
 * A Channel carries messages over one long-lived libp2p stream: each message is a small JSON
 * header (control fields only) plus an optional binary payload (a tensor frame), never JSON'd.
 *
 *   u32 LE  body length (header length field + header + payload)
 *   u32 LE  header length
 *   ...     header, UTF-8 JSON object with a string field `t` (the message type)
 *   ...     payload bytes
 *
 * Sends are queued in order and wait for 'drain' when the stream's buffer is full (backpressure).
 * A message over the limit, or one that does not parse, closes the channel with a ProtocolError.
 *
 * Closing is a handshake: each side closes its writable end once it is done, and the stream is
 * released when both have. When the remote closes its end, this side finishes its queued sends and
 * closes too; after a local close, a remote that does not follow within `lingerMs` is cut off. The
 * bytes of an unfinished message count against a shared ByteBudget (per peer, say), and a message
 * that makes no progress for `partialTimeoutMs` ends the stream, so a peer cannot park memory here.
 */
import type { Stream } from '@libp2p/interface'
import { BusyError, type GridError, NetworkError, ProtocolError } from '../util/errors.ts'
import { logger } from '../util/log.ts'

const log = logger('net:channel')

export const MAX_HEADER_BYTES = 64 * 1024

export interface Header {
  readonly t: string
  readonly [field: string]: unknown
}

export interface Message {
  readonly header: Header
  /** empty when the message carries no payload */
  readonly payload: Uint8Array
}

export interface ChannelOptions {
  /** the most bytes one message may take; default 64 MiB + 64 KiB */
  maxMessageBytes?: number
  /**
   * The reply to input that breaks the protocol (e.g. a typed error). A message that does not
   * parse gets it and the stream goes on; one over the size limit gets it and the stream closes.
   * Without it, either closes the stream.
   */
  replyToBadInput?: (err: GridError) => Header
  /** bytes of unfinished messages this channel may hold, shared with other channels */
  budget?: ByteBudget
  /** an unfinished message must make progress within this; default 60 s */
  partialTimeoutMs?: number
  /** after closing our end, how long the remote has to close its end; default 5 s */
  lingerMs?: number
  /** told of every message received or sent (for idle tracking) */
  onActivity?: () => void
}

/** A byte allowance shared by several holders, optionally nested in a larger one. */
export class ByteBudget {
  private used = 0

  constructor (readonly limit: number, private readonly parent?: ByteBudget) {}

  get held (): number {
    return this.used
  }

  /** Takes n bytes if this budget and its parents have room; false (taking nothing) otherwise. */
  reserve (n: number): boolean {
    if (this.used + n > this.limit) return false
    if (this.parent !== undefined && !this.parent.reserve(n)) return false
    this.used += n
    return true
  }

  release (n: number): void {
    this.used -= n
    this.parent?.release(n)
  }
}

const encoder = new TextEncoder()
const decoder = new TextDecoder('utf-8', { fatal: true })

/** Encodes one message (length prefix included). */
export function encodeMessage (header: Header, payload: Uint8Array = new Uint8Array(0)): Uint8Array {
  const head = encoder.encode(JSON.stringify(header))
  if (head.byteLength > MAX_HEADER_BYTES) throw new ProtocolError('MESSAGE_TOO_LARGE', `message header of ${head.byteLength} bytes exceeds ${MAX_HEADER_BYTES}`)
  const out = new Uint8Array(8 + head.byteLength + payload.byteLength)
  const view = new DataView(out.buffer)
  view.setUint32(0, 4 + head.byteLength + payload.byteLength, true)
  view.setUint32(4, head.byteLength, true)
  out.set(head, 8)
  out.set(payload, 8 + head.byteLength)
  return out
}

/** Parses one message body (after the length prefix). */
export function decodeBody (body: Uint8Array): Message {
  if (body.byteLength < 4) throw new ProtocolError('BAD_MESSAGE', 'message shorter than its header length field')
  const headLength = new DataView(body.buffer, body.byteOffset, 4).getUint32(0, true)
  if (headLength > MAX_HEADER_BYTES || 4 + headLength > body.byteLength) throw new ProtocolError('BAD_MESSAGE', `bad message header length ${headLength}`)
  let header: unknown
  try {
    header = JSON.parse(decoder.decode(body.subarray(4, 4 + headLength)))
  } catch {
    throw new ProtocolError('BAD_MESSAGE', 'message header is not UTF-8 JSON')
  }
  if (typeof header !== 'object' || header === null || Array.isArray(header) || typeof (header as Header).t !== 'string') {
    throw new ProtocolError('BAD_MESSAGE', 'message header must be an object with a string field "t"')
  }
  return { header: header as Header, payload: body.subarray(4 + headLength) }
}

export class Channel {
  /** the remote peer's id */
  readonly peer: string
  readonly maxMessageBytes: number
  private readonly chunks: Uint8Array[] = []
  private buffered = 0
  /** bytes of `buffered` taken from the budget */
  private reserved = 0
  private partialTimer: NodeJS.Timeout | undefined
  private lingerTimer: NodeJS.Timeout | undefined
  private writeClosed = false
  private sendTail: Promise<void> = Promise.resolve()
  private closeError: GridError | undefined
  private closed = false
  private readonly messageHandlers: Array<(msg: Message) => void> = []
  private readonly closeHandlers: Array<(err: GridError | undefined) => void> = []

  constructor (private readonly stream: Stream, peer: string, private readonly options: ChannelOptions = {}) {
    this.peer = peer
    this.maxMessageBytes = options.maxMessageBytes ?? 64 * 2 ** 20 + MAX_HEADER_BYTES
    // a paused reader must be able to hold one whole message
    stream.maxReadBufferLength = Math.max(stream.maxReadBufferLength, this.maxMessageBytes + 8)
    stream.addEventListener('message', evt => { this.receive(evt.data instanceof Uint8Array ? evt.data : evt.data.subarray()) })
    stream.addEventListener('close', evt => {
      clearTimeout(this.lingerTimer)
      const err = evt.error === undefined ? undefined : new NetworkError('CONNECTION_LOST', `stream to ${peer.slice(-8)} closed: ${evt.error.message}`, { cause: evt.error })
      this.finish(err ?? new NetworkError('CONNECTION_LOST', `stream to ${peer.slice(-8)} closed`))
    })
    stream.addEventListener('remoteCloseWrite', () => {
      // the remote is done: so are we, once what we queued is sent
      this.finish(new NetworkError('CONNECTION_LOST', `${peer.slice(-8)} closed the stream`))
      void this.sendTail.then(async () => { await this.closeWrite() })
    })
  }

  get isOpen (): boolean {
    return !this.closed
  }

  /** Why the channel closed (undefined while open, or after a clean local close). */
  get error (): GridError | undefined {
    return this.closeError
  }

  onMessage (handler: (msg: Message) => void): void {
    this.messageHandlers.push(handler)
  }

  /** Called once, when the channel closes for any reason (err is undefined for a local close()). */
  onClose (handler: (err: GridError | undefined) => void): void {
    if (this.closed) queueMicrotask(() => { handler(this.closeError) })
    else this.closeHandlers.push(handler)
  }

  /** Queues a message; resolves once the stream accepted it, waiting for 'drain' when its buffer is full. */
  async send (header: Header, payload?: Uint8Array): Promise<void> {
    const bytes = encodeMessage(header, payload)
    if (bytes.byteLength - 4 > this.maxMessageBytes) throw new ProtocolError('MESSAGE_TOO_LARGE', `message of ${bytes.byteLength} bytes exceeds ${this.maxMessageBytes}`)
    return await this.sendRaw(bytes)
  }

  /** Queues raw bytes (tests use it to send malformed messages). */
  async sendRaw (bytes: Uint8Array): Promise<void> {
    // a send accepted while open goes out even if the remote closes its end meanwhile
    if (this.closed) throw this.closeError ?? new NetworkError('CONNECTION_LOST', `channel to ${this.peer.slice(-8)} is closed`)
    const next = this.sendTail.then(async () => {
      if (this.writeClosed || this.stream.status !== 'open') throw this.closeError ?? new NetworkError('CONNECTION_LOST', `channel to ${this.peer.slice(-8)} is closed`)
      if (this.stream.writableNeedsDrain) await this.stream.onDrain()
      this.stream.send(bytes)
      this.options.onActivity?.()
    })
    this.sendTail = next.catch(() => {})
    try {
      await next
    } catch (err) {
      throw err instanceof Error && 'code' in err ? err : new NetworkError('CONNECTION_LOST', `send to ${this.peer.slice(-8)} failed: ${String(err)}`, { cause: err })
    }
  }

  /** Closes the stream gracefully after queued messages. */
  async close (): Promise<void> {
    if (this.closed) return
    await this.sendTail
    this.finish(undefined)
    await this.closeWrite()
  }

  /** Closes at once with an error (reported to onClose handlers). */
  abort (err: GridError): void {
    this.finish(err)
    this.writeClosed = true
    clearTimeout(this.lingerTimer)
    if (this.stream.status === 'open' || this.stream.status === 'closing') this.stream.abort(err)
  }

  /** Closes our writable end; the stream is released when the remote closes its end too, or cut after lingerMs. */
  private async closeWrite (): Promise<void> {
    if (this.writeClosed) return
    this.writeClosed = true
    if (this.stream.status === 'closed' || this.stream.status === 'aborted' || this.stream.status === 'reset') return
    this.lingerTimer = setTimeout(() => {
      if (this.stream.status !== 'closed') this.stream.abort(new NetworkError('TIMEOUT', `${this.peer.slice(-8)} did not close its end of the stream`))
    }, this.options.lingerMs ?? 5000)
    this.lingerTimer.unref?.()
    try {
      await this.stream.close()
    } catch {
      this.stream.abort(new NetworkError('CONNECTION_LOST', 'close failed'))
    }
  }

  private finish (err: GridError | undefined): void {
    if (this.closed) return
    this.closed = true
    this.closeError = err
    this.dropBuffered()
    if (err !== undefined) log('channel to %s closed: %s', this.peer.slice(-8), err.message)
    for (const h of this.closeHandlers.splice(0)) h(err)
  }

  /** Forgets any unfinished message and gives its bytes back to the budget. */
  private dropBuffered (): void {
    this.chunks.length = 0
    this.buffered = 0
    this.syncBudget()
    clearTimeout(this.partialTimer)
    this.partialTimer = undefined
  }

  /** Makes the budget hold exactly the bytes buffered now; false if it has no room for them. */
  private syncBudget (): boolean {
    const delta = this.buffered - this.reserved
    if (delta === 0 || this.options.budget === undefined) { this.reserved = this.buffered; return true }
    if (delta < 0) this.options.budget.release(-delta)
    else if (!this.options.budget.reserve(delta)) return false
    this.reserved = this.buffered
    return true
  }

  private receive (chunk: Uint8Array): void {
    if (this.closed) return
    this.chunks.push(chunk)
    this.buffered += chunk.byteLength
    let completed = false
    try {
      for (;;) {
        if (this.buffered < 4) break
        const length = this.peekLength()
        if (length > this.maxMessageBytes) {
          throw new ProtocolError('MESSAGE_TOO_LARGE', `incoming message of ${length} bytes exceeds the limit of ${this.maxMessageBytes}`)
        }
        if (this.buffered < 4 + length) break
        completed = true
        this.options.onActivity?.()
        const body = this.take(4 + length).subarray(4)
        let msg: Message
        try {
          msg = decodeBody(body)
        } catch (err) {
          const reply = this.options.replyToBadInput?.(err as GridError)
          if (reply === undefined) throw err
          void this.send(reply).catch(() => {})
          continue
        }
        for (const h of this.messageHandlers) h(msg)
        if (this.closed) return
      }
      if (!this.syncBudget()) throw new BusyError(`${this.peer.slice(-8)} holds too many bytes of unfinished messages`, 1000)
      this.watchPartial(completed)
    } catch (err) {
      this.protocolFailure(err as GridError)
    }
  }

  /** An unfinished message must make progress: a message completing restarts the clock. */
  private watchPartial (progressed: boolean): void {
    if (this.buffered === 0 || progressed) {
      clearTimeout(this.partialTimer)
      this.partialTimer = undefined
    }
    if (this.buffered > 0 && this.partialTimer === undefined) {
      const ms = this.options.partialTimeoutMs ?? 60_000
      this.partialTimer = setTimeout(() => {
        this.protocolFailure(new NetworkError('TIMEOUT', `a message from ${this.peer.slice(-8)} stayed unfinished for ${ms} ms`))
      }, ms)
      this.partialTimer.unref?.()
    }
  }

  /** The remote broke the framing: say why (if we know how), then close. */
  private protocolFailure (err: GridError): void {
    if (this.closed) return
    const farewell = this.options.replyToBadInput?.(err)
    this.finish(err)
    if (farewell === undefined) { this.abort(err); return }
    void this.sendTail.then(async () => {
      if (this.stream.status !== 'open') return
      this.stream.send(encodeMessage(farewell))
      await this.closeWrite()
    }).catch(() => { this.abort(err) })
  }

  private peekLength (): number {
    const head = this.chunks[0]!.byteLength >= 4 ? this.chunks[0]! : this.take(4, false)
    return new DataView(head.buffer, head.byteOffset, 4).getUint32(0, true)
  }

  /** Removes (or with consume = false, copies) the first n buffered bytes. */
  private take (n: number, consume = true): Uint8Array {
    const first = this.chunks[0]!
    if (first.byteLength >= n && consume) {
      const out = first.subarray(0, n)
      if (first.byteLength === n) this.chunks.shift()
      else this.chunks[0] = first.subarray(n)
      this.buffered -= n
      return out
    }
    const out = new Uint8Array(n)
    let filled = 0
    let i = 0
    while (filled < n) {
      const c = this.chunks[i]!
      const part = Math.min(c.byteLength, n - filled)
      out.set(c.subarray(0, part), filled)
      filled += part
      if (consume) {
        if (part === c.byteLength) this.chunks.shift()
        else { this.chunks[0] = c.subarray(part); i = 0 }
      } else i++
    }
    if (consume) this.buffered -= n
    return out
  }
}

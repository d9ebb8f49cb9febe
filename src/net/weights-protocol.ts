/**
 * Weights over the swarm, `/gridllm/weights/1.0.0`: a peer that holds a model's weights sends its
 * manifest and byte ranges of its items (tensors, the tokenizer blob). One stream per peer pair,
 * requests numbered by the client, answered one at a time in order.
 *
 *   client → server  manifest {id, model}                   server → client  manifest {id} + the manifest's bytes
 *   client → server  get {id, model, item, offset, length}  server → client  data {id} + the bytes (at most 4 MiB)
 *   server → client  error {id, code, message}
 *
 * The bytes are the payload, never JSON. This layer moves bytes only: the caller checks the
 * manifest against the model id and every piece against the manifest (swarm/weights).
 */
import { type ErrorCode, GridError, NetworkError, ProtocolError, RemoteError, WeightsError, throwIfAborted } from '../util/errors.ts'
import { logger } from '../util/log.ts'
import { type Channel, MAX_HEADER_BYTES, type Message } from './channel.ts'
import type { NetNode, PeerAddress } from './node.ts'
import { errorMsg } from './protocol.ts'

const log = logger('net:weights')

export const WEIGHTS_PROTOCOL = '/gridllm/weights/1.0.0'
/** the most bytes one `get` may ask for (a manifest's pieces are at most this) */
export const MAX_RANGE_BYTES = 4 << 20
/** requests one stream may have waiting; more are refused */
const MAX_QUEUED = 32
/** weights streams one connection may have open: what one peer can make this one read at once is bounded */
const MAX_STREAMS = 8
const MODEL_RE = /^[0-9a-f]{64}$/
const ITEM_RE = /^[A-Za-z0-9_.-]{1,200}$/

/** What a peer can send: manifests and byte ranges of the items it holds. */
export interface WeightsProvider {
  /** the manifest's bytes, or undefined if this peer has no such model */
  manifest (model: string): Uint8Array | undefined
  /** the bytes [offset, offset + length) of an item, or undefined if this peer does not hold them */
  read (model: string, item: string, offset: number, length: number, options?: { signal?: AbortSignal }): Promise<Uint8Array | undefined>
}

type Request =
  | { readonly t: 'manifest', readonly id: number, readonly model: string }
  | { readonly t: 'get', readonly id: number, readonly model: string, readonly item: string, readonly offset: number, readonly length: number }

function parseRequest (msg: Message): Request {
  const h = msg.header
  const bad = (why: string): never => { throw new ProtocolError('BAD_MESSAGE', why) }
  const id = h.id
  if (!Number.isSafeInteger(id) || (id as number) < 0) bad('a weights request needs a non-negative integer "id"')
  if (typeof h.model !== 'string' || !MODEL_RE.test(h.model)) bad('a weights request needs a model id (64 hex digits)')
  if (msg.payload.byteLength > 0) bad('weights requests carry no payload')
  if (h.t === 'manifest') return { t: 'manifest', id: id as number, model: h.model as string }
  if (h.t !== 'get') bad(`unknown weights request "${String(h.t).slice(0, 32)}"`)
  const { item, offset, length } = h
  if (typeof item !== 'string' || !ITEM_RE.test(item)) bad('"get" needs an item name')
  if (!Number.isSafeInteger(offset) || (offset as number) < 0 || !Number.isSafeInteger(length) || (length as number) <= 0 || (length as number) > MAX_RANGE_BYTES) {
    bad(`"get" needs an offset and a length from 1 to ${MAX_RANGE_BYTES}`)
  }
  return { t: 'get', id: id as number, model: h.model as string, item: item as string, offset: offset as number, length: length as number }
}

/** Serves `provider` on the node: each stream's requests are answered in order, at most MAX_QUEUED waiting. */
export async function serveWeights (node: NetNode, provider: () => WeightsProvider | undefined): Promise<void> {
  await node.handle(WEIGHTS_PROTOCOL, channel => {
    let queue = Promise.resolve()
    let queued = 0
    channel.onMessage(msg => {
      let req: Request
      try {
        req = parseRequest(msg)
      } catch (err) {
        channel.send(errorMsg(err, null, null)).catch(() => {})
        return
      }
      if (queued >= MAX_QUEUED) { channel.send({ ...errorMsg(new GridError('OVERLOADED', `more than ${MAX_QUEUED} requests waiting`)), id: req.id }).catch(() => {}); return }
      queued++
      queue = queue.then(async () => { await answer(channel, provider(), req) }).finally(() => { queued-- })
    })
  }, { maxMessageBytes: MAX_RANGE_BYTES + MAX_HEADER_BYTES + 64, maxStreamsPerConnection: MAX_STREAMS })
}

async function answer (channel: Channel, provider: WeightsProvider | undefined, req: Request): Promise<void> {
  if (!channel.isOpen) return
  try {
    if (req.t === 'manifest') {
      const bytes = provider?.manifest(req.model)
      if (bytes === undefined) throw new WeightsError('WEIGHTS_UNAVAILABLE', `no model ${req.model.slice(0, 12)} here`)
      await channel.send({ t: 'manifest', id: req.id }, bytes)
      return
    }
    const bytes = await provider?.read(req.model, req.item, req.offset, req.length)
    if (bytes === undefined) throw new WeightsError('WEIGHTS_UNAVAILABLE', `no ${req.item} [${req.offset}, +${req.length}) of ${req.model.slice(0, 12)} here`)
    await channel.send({ t: 'data', id: req.id }, bytes)
  } catch (err) {
    await channel.send({ ...errorMsg(err), id: req.id }).catch(() => {})
  }
}

/** The client side: one stream to one peer, requests answered in order. */
export class WeightsPeer {
  private nextId = 0
  private readonly waiting = new Map<number, { resolve: (bytes: Uint8Array) => void, reject: (err: Error) => void }>()

  private constructor (readonly peer: PeerAddress, private readonly channel: Channel) {
    channel.onMessage(msg => { this.receive(msg) })
    channel.onClose(err => {
      const failure = err ?? new NetworkError('CONNECTION_LOST', `the weights stream to ${peer.id.slice(-8)} closed`)
      for (const w of this.waiting.values()) w.reject(failure)
      this.waiting.clear()
    })
  }

  static async open (node: NetNode, peer: PeerAddress, options: { signal?: AbortSignal } = {}): Promise<WeightsPeer> {
    const channel = await node.open(peer, WEIGHTS_PROTOCOL, { signal: options.signal, maxMessageBytes: MAX_RANGE_BYTES + MAX_HEADER_BYTES + 64 })
    return new WeightsPeer(peer, channel)
  }

  get isOpen (): boolean {
    return this.channel.isOpen
  }

  /** The manifest's bytes (unchecked). */
  async manifest (model: string, options: { signal?: AbortSignal, timeoutMs?: number } = {}): Promise<Uint8Array> {
    return await this.request({ t: 'manifest', model }, options)
  }

  /** Bytes [offset, offset + length) of an item (unchecked but for their length). */
  async get (model: string, item: string, offset: number, length: number, options: { signal?: AbortSignal, timeoutMs?: number } = {}): Promise<Uint8Array> {
    const bytes = await this.request({ t: 'get', model, item, offset, length }, options)
    if (bytes.byteLength !== length) throw new WeightsError('BAD_PIECE', `${this.peer.id.slice(-8)} sent ${bytes.byteLength} bytes of ${item} for ${length}`)
    return bytes
  }

  async close (): Promise<void> {
    await this.channel.close().catch(() => {})
  }

  private async request (header: { t: string, [k: string]: unknown }, options: { signal?: AbortSignal, timeoutMs?: number }): Promise<Uint8Array> {
    throwIfAborted(options.signal)
    const id = this.nextId++
    const done = Promise.withResolvers<Uint8Array>()
    this.waiting.set(id, done)
    const timer = setTimeout(() => { this.settle(id, undefined, new NetworkError('TIMEOUT', `${this.peer.id.slice(-8)} did not answer a weights request in time`)) }, options.timeoutMs ?? 30_000)
    const onAbort = (): void => { this.settle(id, undefined, new GridError('ABORTED', 'the weights request was aborted')) }
    options.signal?.addEventListener('abort', onAbort, { once: true })
    try {
      await this.channel.send({ ...header, id })
      return await done.promise
    } finally {
      clearTimeout(timer)
      options.signal?.removeEventListener('abort', onAbort)
      this.waiting.delete(id)
    }
  }

  private settle (id: number, bytes: Uint8Array | undefined, err?: Error): void {
    const w = this.waiting.get(id)
    if (w === undefined) return
    this.waiting.delete(id)
    if (err !== undefined) w.reject(err)
    else w.resolve(bytes!)
  }

  private receive (msg: Message): void {
    const h = msg.header
    const id = typeof h.id === 'number' ? h.id : -1
    if (h.t === 'manifest' || h.t === 'data') { this.settle(id, msg.payload); return }
    if (h.t === 'error') {
      const code = (typeof h.code === 'string' ? h.code : 'INTERNAL') as ErrorCode
      const err = new RemoteError(code, typeof h.message === 'string' ? h.message.slice(0, 500) : '', this.peer.id)
      if (id >= 0) this.settle(id, undefined, err)
      else { log('error from %s: %s', this.peer.id.slice(-8), err.message); for (const k of [...this.waiting.keys()]) this.settle(k, undefined, err) }
      return
    }
    this.channel.abort(new ProtocolError('BAD_MESSAGE', `unexpected weights message "${String(h.t).slice(0, 32)}"`))
  }
}

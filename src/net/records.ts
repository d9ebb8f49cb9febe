/**
 * A peer's record straight from the peer, `/gridllm/record/1.0.0`: the same signed envelope it puts
 * in the DHT, checked the same way by whoever asks (signature under the peer's key, the node's
 * record rules). One stream to the peer, usually over a connection already open, where a DHT get
 * walks a dozen peers; and the answer is the peer's latest record, not the last one stored.
 *
 *   asker → peer  get {}        peer → asker  record {} + envelope | none {}
 *
 * Verified envelopes are remembered per peer (bounded), so a record seen again costs no signature check.
 */
import { ProtocolError, throwIfAborted } from '../util/errors.ts'
import type { Channel } from './channel.ts'

export const RECORD_PROTOCOL = '/gridllm/record/1.0.0'
/** a record is a few hundred bytes; an envelope larger than this is refused unread */
export const MAX_RECORD_BYTES = 64 * 1024
/** how long an asker waits for a peer's answer (dial included) */
export const RECORD_FETCH_TIMEOUT_MS = 3000

/** Answers every `get` on `channel` with the envelope `current()` holds (none before the first announce). */
export function answerRecordRequests (channel: Channel, current: () => Uint8Array | undefined): void {
  channel.onMessage(msg => {
    const envelope = current()
    const reply = msg.header.t !== 'get'
      ? channel.send({ t: 'error', code: 'BAD_MESSAGE', message: 'expected get' })
      : envelope === undefined ? channel.send({ t: 'none' }) : channel.send({ t: 'record' }, envelope)
    void reply.then(async () => { await channel.close() }).catch(() => {})
  })
}

/** Sends `get` on `channel` and resolves with the envelope the peer answers (undefined for none). */
export async function requestRecord (channel: Channel, signal: AbortSignal): Promise<Uint8Array | undefined> {
  return await new Promise<Uint8Array | undefined>((resolve, reject) => {
    const onAbort = (): void => { try { throwIfAborted(signal) } catch (err) { reject(err) } }
    if (signal.aborted) { onAbort(); return }
    signal.addEventListener('abort', onAbort, { once: true })
    const settle = (): void => { signal.removeEventListener('abort', onAbort) }
    channel.onMessage(msg => {
      settle()
      if (msg.header.t === 'record') resolve(msg.payload)
      else if (msg.header.t === 'none') resolve(undefined)
      else reject(new ProtocolError('BAD_MESSAGE', `unexpected record answer "${String(msg.header.t).slice(0, 32)}"`))
    })
    channel.onClose(err => { settle(); reject(err ?? new ProtocolError('BAD_MESSAGE', 'the peer closed without a record')) })
    void channel.send({ t: 'get' }).catch(reject)
  })
}

/** Envelopes already verified, per peer: the last one seen of each, the oldest peers forgotten first. */
export class VerifiedRecords {
  private readonly seen = new Map<string, { envelope: Uint8Array, payload: Uint8Array }>()

  constructor (private readonly capacity = 4096) {}

  /** The payload of `envelope` if it is exactly the one last verified for `peer`. */
  get (peer: string, envelope: Uint8Array): Uint8Array | undefined {
    const hit = this.seen.get(peer)
    if (hit === undefined || !sameBytes(hit.envelope, envelope)) return undefined
    return hit.payload
  }

  set (peer: string, envelope: Uint8Array, payload: Uint8Array): void {
    this.seen.delete(peer)
    this.seen.set(peer, { envelope: envelope.slice(), payload })
    if (this.seen.size > this.capacity) this.seen.delete(this.seen.keys().next().value!)
  }
}

function sameBytes (a: Uint8Array, b: Uint8Array): boolean {
  if (a.byteLength !== b.byteLength) return false
  for (let i = 0; i < a.byteLength; i++) if (a[i] !== b[i]) return false
  return true
}

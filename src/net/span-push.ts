/**
 * A server's push of one session's outputs to the next hop. A client names the next hop, but the
 * server dials it only after `check` confirmed that peer is a server of the following block in the
 * same model (its signed record, in the swarm layer), and only at the addresses that record gives:
 * a client cannot point a server at an arbitrary address. Failures reach the session's owner as
 * PUSH_FAILED with a fixed text per cause, saying nothing about the addresses tried.
 */
import { GridError, NetworkError } from '../util/errors.ts'
import { logger } from '../util/log.ts'
import { type Channel, MAX_HEADER_BYTES } from './channel.ts'
import type { NetNode, PeerAddress } from './node.ts'
import { type NextHop, SPAN_PROTOCOL, parseSpanMsg } from './protocol.ts'

const log = logger('net:push')

/**
 * Resolves to the addresses to dial if `next.peer` serves block `block` of this server's model;
 * rejects otherwise. Provided by the swarm layer, which reads the signed records.
 */
export type NextHopCheck = (next: NextHop, block: number, options: { signal?: AbortSignal }) => Promise<PeerAddress>

export class PushLink {
  private channel: Channel | undefined
  private readonly target: Promise<PeerAddress>
  private closed = false

  constructor (
    private readonly node: NetNode,
    readonly next: NextHop,
    block: number,
    check: NextHopCheck | undefined,
    private readonly maxFrameBytes: number,
    /** a failure to tell the session's owner about; `step` when it concerns one */
    private readonly onFailure: (err: GridError, step: number | null) => void
  ) {
    // checked at once, so the first step does not wait for a lookup
    this.target = check === undefined
      ? Promise.reject(new NetworkError('PUSH_FAILED', 'this server does not push to other servers'))
      : check(next, block, {}).catch(err => {
        log('refusing to push to %s: %s', next.peer.slice(-8), (err as Error).message)
        throw new NetworkError('PUSH_FAILED', `${next.peer.slice(-8)} is not a server of block ${block} of this model`)
      })
    this.target.catch(() => {})
  }

  /** Sends one step's output on to the next hop's session; failures go to onFailure. */
  async send (step: number, from: number, commitment: string | null, output: Uint8Array): Promise<void> {
    let channel: Channel | undefined
    try {
      channel = await this.connect()
      await channel.send({ t: 'step', session: this.next.session, step, from, push: true, commitment }, output)
    } catch (err) {
      this.fail(channel, step, err as Error)
    }
  }

  async close (): Promise<void> {
    this.closed = true
    await this.channel?.close().catch(() => {})
  }

  private async connect (): Promise<Channel> {
    if (this.channel?.isOpen === true) return this.channel
    const target = await this.target
    if (this.closed) throw new NetworkError('PUSH_FAILED', 'the session is closed')
    let channel: Channel
    try {
      channel = await this.node.open({ id: this.next.peer, addrs: target.addrs }, SPAN_PROTOCOL, { maxMessageBytes: this.maxFrameBytes + MAX_HEADER_BYTES + 64 })
    } catch (err) {
      log('cannot reach %s: %s', this.next.peer.slice(-8), (err as Error).message)
      throw new NetworkError('PUSH_FAILED', `cannot reach the next hop ${this.next.peer.slice(-8)}`)
    }
    channel.onMessage(raw => {
      try {
        const m = parseSpanMsg(raw)
        if (m.t === 'error') this.fail(channel, m.step, new GridError(m.code, m.message))
      } catch (err) {
        this.fail(channel, null, err as Error)
      }
    })
    channel.onClose(err => { if (err !== undefined) this.fail(channel, null, err) })
    this.channel = channel
    return channel
  }

  private fail (channel: Channel | undefined, step: number | null, err: Error): void {
    if (this.closed || (channel !== undefined && channel !== this.channel)) return
    // our own PUSH_FAILED texts are fixed; what the next hop replied is its business with the owner
    const code = (err as GridError).code ?? 'INTERNAL'
    const why = code === 'PUSH_FAILED' ? err.message : `the next hop ${this.next.peer.slice(-8)} refused the step [${code}]`
    this.onFailure(new NetworkError('PUSH_FAILED', why), step)
  }
}

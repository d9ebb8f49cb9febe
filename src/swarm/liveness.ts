/**
 * Noticing that a server is gone in seconds rather than when its record expires. A node that held a
 * connection to a server sees it close; it then probes the server (a ping, which dials again if
 * needed) and, if no answer comes within `probeTimeoutMs`, counts it gone. A server is gone until it
 * is heard from again: a new connection to it, or a record it issued after it was found gone.
 * Peers that close an idle connection but still answer are not counted gone.
 */
import type { NetNode, PeerAddress } from '../net/index.ts'
import { logger } from '../util/log.ts'

const log = logger('swarm:liveness')

export interface LivenessOptions {
  /** the address of `peer` if it is a server this node cares about; undefined to ignore the peer */
  server: (peer: string) => PeerAddress | undefined
  /** default 3 s */
  probeTimeoutMs?: number
  /** told once each time a server is found gone */
  onGone?: (peer: string) => void
}

export const PROBE_TIMEOUT_MS = 3000

export class Liveness {
  /** peer → when it was found gone (ms since the epoch) */
  private readonly gone = new Map<string, number>()
  private readonly probing = new Set<string>()
  private stopped = false

  constructor (private readonly node: Pick<NetNode, 'onPeerConnect' | 'onPeerDisconnect' | 'ping'>, private readonly options: LivenessOptions) {
    node.onPeerDisconnect(peer => { this.disconnected(peer) })
    node.onPeerConnect(peer => { if (this.gone.delete(peer)) log('%s is back', peer.slice(-8)) })
  }

  /** Whether `peer` was found gone and has not been heard from since (a record issued at `issuedAt`, if given, counts). */
  isGone (peer: string, issuedAt?: number): boolean {
    const at = this.gone.get(peer)
    if (at === undefined) return false
    if (issuedAt !== undefined && issuedAt > at) { this.gone.delete(peer); return false }
    return true
  }

  /** Counts `peer` gone (e.g. a dial or a ping to it failed). */
  markGone (peer: string): void {
    if (this.stopped || this.gone.has(peer)) return
    this.gone.set(peer, Date.now())
    if (this.gone.size > 4096) this.gone.delete(this.gone.keys().next().value!)
    log('%s is gone', peer.slice(-8))
    this.options.onGone?.(peer)
  }

  /** Asks `peer` whether it is alive; marks it gone if it does not answer in time. */
  async probe (peer: PeerAddress): Promise<boolean> {
    try {
      await this.node.ping(peer, { timeoutMs: this.options.probeTimeoutMs ?? PROBE_TIMEOUT_MS })
      return true
    } catch {
      this.markGone(peer.id)
      return false
    }
  }

  stop (): void {
    this.stopped = true
  }

  private disconnected (peer: string): void {
    if (this.stopped || this.probing.has(peer) || this.gone.has(peer)) return
    const address = this.options.server(peer)
    if (address === undefined) return
    this.probing.add(peer)
    void this.probe(address).finally(() => { this.probing.delete(peer) })
  }
}

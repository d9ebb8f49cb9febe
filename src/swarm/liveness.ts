/**
 * Noticing that a server is gone in seconds rather than when its record expires. A node that held a
 * connection to a server sees it close (or fails to dial it); it then probes the server (a ping,
 * which dials again if needed) and counts it gone if the probe is refused: nothing listens there any
 * more, no route leads there, or its relay holds no reservation for it. A probe that merely runs out of time proves nothing (a loaded or
 * frozen server is a matter for step timeouts and bans). A server is gone until it is heard from
 * again (a new connection to it, or a record it issued after it was found gone), for at most
 * GONE_MS. Peers that close an idle connection but still answer are not counted gone.
 */
import type { NetNode, PeerAddress } from '../net/index.ts'
import { logger } from '../util/log.ts'

const log = logger('swarm:liveness')

export interface LivenessOptions {
  /** the address of `peer` if it is a server this node cares about; undefined to ignore the peer */
  server: (peer: string) => PeerAddress | undefined
  /** default 3 s */
  probeTimeoutMs?: number
}

export const PROBE_TIMEOUT_MS = 3000
/** how long a server stays counted gone without news of it (a dead one is found gone again at once) */
export const GONE_MS = 30_000

/** Whether a failed dial says nobody is there: refused, no route, or no relay reservation any more. */
function refused (err: unknown, depth = 0): boolean {
  const e = err as { message?: string, code?: string, cause?: unknown, errors?: unknown[] } | undefined
  if (e === undefined || e === null || depth > 8) return false
  if (/ECONNREFUSED|EHOSTUNREACH|ENETUNREACH|EHOSTDOWN|NO_RESERVATION/.test(`${e.code ?? ''} ${e.message ?? ''}`)) return true
  // a dial of several addresses (TCP, WebSockets, relayed) fails with all of them: refused if every one was
  if (Array.isArray(e.errors) && e.errors.length > 0 && e.errors.every(x => refused(x, depth + 1))) return true
  return refused(e.cause, depth + 1)
}

export class Liveness {
  /** peer → when it was found gone (ms since the epoch) */
  private readonly gone = new Map<string, number>()
  private readonly probing = new Set<string>()
  private stopped = false

  constructor (private readonly node: Pick<NetNode, 'onPeerConnect' | 'onPeerDisconnect' | 'ping'>, private readonly options: LivenessOptions) {
    node.onPeerDisconnect(peer => { this.check(peer) })
    node.onPeerConnect(peer => { if (this.gone.delete(peer)) log('%s is back', peer.slice(-8)) })
  }

  /** Whether `peer` was found gone and has not been heard from since (a record issued at `issuedAt`, if given, counts). */
  isGone (peer: string, issuedAt?: number): boolean {
    const at = this.gone.get(peer)
    if (at === undefined) return false
    if ((issuedAt !== undefined && issuedAt > at) || Date.now() - at > GONE_MS) { this.gone.delete(peer); return false }
    return true
  }

  /** Counts `peer` gone (e.g. a dial or a ping to it failed). */
  markGone (peer: string): void {
    if (this.stopped || this.isGone(peer)) return
    this.gone.set(peer, Date.now())
    if (this.gone.size > 4096) this.gone.delete(this.gone.keys().next().value!)
    log('%s is gone', peer.slice(-8))
  }

  /** Asks `peer` whether it is alive: false if it does not answer in time; marks it gone if it was refused. */
  async probe (peer: PeerAddress): Promise<boolean> {
    try {
      await this.node.ping(peer, { timeoutMs: this.options.probeTimeoutMs ?? PROBE_TIMEOUT_MS })
      return true
    } catch (err) {
      if (refused(err)) this.markGone(peer.id)
      else log('%s did not answer: %s', peer.id.slice(-8), (err as Error).message)
      return false
    }
  }

  /** Probes `peer` (once at a time) if it is a server this node cares about, e.g. after a dial to it failed. */
  check (peer: string): void {
    if (this.stopped || this.probing.has(peer) || this.isGone(peer)) return
    const address = this.options.server(peer)
    if (address === undefined) return
    this.probing.add(peer)
    void this.probe(address).finally(() => { this.probing.delete(peer) })
  }

  stop (): void {
    this.stopped = true
  }
}

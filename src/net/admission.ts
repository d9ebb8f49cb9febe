/**
 * Who may open a session on a span server: bounds on sessions in all and per peer, and on the share
 * of the KV-cache budget one peer may hold, so that one stranger cannot take the server for itself.
 * Admission is decided and recorded in one synchronous call, so a burst of opens in one write
 * cannot all pass the check before any of them is counted.
 */
import { BusyError, CacheBudgetError } from '../util/errors.ts'

export interface AdmissionLimits {
  /** sessions open at once, over every peer */
  readonly maxSessions: number
  /** sessions one peer may hold */
  readonly maxSessionsPerPeer: number
  /** the share (0, 1] of the KV-cache budget one peer may hold */
  readonly peerCacheShare: number
}

export const DEFAULT_ADMISSION: AdmissionLimits = { maxSessions: 1024, maxSessionsPerPeer: 64, peerCacheShare: 0.5 }

/** how long a refused client should wait before asking again */
export const CAPACITY_RETRY_MS = 2000

interface PeerUsage {
  sessions: number
  bytes: number
}

export class Admission {
  private readonly peers = new Map<string, PeerUsage>()
  private sessions = 0

  constructor (readonly limits: AdmissionLimits, private readonly cacheBudgetBytes: () => number) {}

  get openSessions (): number {
    return this.sessions
  }

  usage (peer: string): Readonly<PeerUsage> {
    return this.peers.get(peer) ?? { sessions: 0, bytes: 0 }
  }

  /**
   * Takes a session slot and `bytes` of cache for `peer`, or throws BUSY (too many sessions) or
   * CACHE_BUDGET_EXCEEDED (over the peer's share). Returns the release, which is idempotent.
   */
  admit (peer: string, bytes: number): () => void {
    const { maxSessions, maxSessionsPerPeer, peerCacheShare } = this.limits
    const use = this.usage(peer)
    if (this.sessions >= maxSessions) {
      throw new BusyError(`this server holds ${this.sessions} sessions, the most it takes`, CAPACITY_RETRY_MS)
    }
    if (use.sessions >= maxSessionsPerPeer) {
      throw new BusyError(`you hold ${use.sessions} sessions here, the most one peer may`, CAPACITY_RETRY_MS)
    }
    const share = Math.floor(peerCacheShare * this.cacheBudgetBytes())
    if (use.bytes + bytes > share) {
      throw new CacheBudgetError(`a session needing ${bytes} bytes of KV cache would take you past your share of ${share} bytes (you hold ${use.bytes})`, { retryAfterMs: CAPACITY_RETRY_MS })
    }
    let mine = this.peers.get(peer)
    if (mine === undefined) { mine = { sessions: 0, bytes: 0 }; this.peers.set(peer, mine) }
    mine.sessions++
    mine.bytes += bytes
    this.sessions++
    let released = false
    return () => {
      if (released) return
      released = true
      this.sessions--
      mine!.sessions--
      mine!.bytes -= bytes
      if (mine!.sessions === 0) this.peers.delete(peer)
    }
  }
}

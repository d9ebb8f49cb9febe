/**
 * What this client knows of each server's honesty: audits passed and failed, a score, and a
 * conviction once a fraud proof against it has been checked here. The score is a moving average of
 * audit outcomes (1 pass, 0 fail) that starts at 0.5: a newcomer is trusted less than a server with a
 * record, and on probation (audited more) until it has passed PROBATION_AUDITS audits. A convicted
 * server is out of every route for good; one that published a false proof loses standing.
 *
 * Kept in memory, and in a JSON file when given one (a data directory), so `gridllm status` and later
 * runs see it. Writes are atomic (a temporary file renamed over the old one).
 */
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs'
import { dirname } from 'node:path'
import { logger } from '../util/log.ts'

const log = logger('verify:reputation')

export interface PeerStanding {
  passed: number
  failed: number
  /** audits that could not decide (a mismatch nobody could arbitrate) */
  inconclusive: number
  /** moving average of audit outcomes, 0..1 */
  score: number
  /** the id of a checked fraud proof against it */
  convicted?: string
  /** proofs it published that did not hold up */
  falseAccusations: number
}

export const INITIAL_SCORE = 0.5
const ALPHA = 0.2

export class ReputationBook {
  private readonly peers = new Map<string, PeerStanding>()
  private writeTimer: NodeJS.Timeout | undefined

  constructor (private readonly file?: string) {
    if (file === undefined) return
    try {
      const saved = JSON.parse(readFileSync(file, 'utf8')) as Record<string, PeerStanding>
      for (const [peer, s] of Object.entries(saved)) this.peers.set(peer, { ...blank(), ...s })
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') log('ignoring %s: %s', file, (err as Error).message)
    }
  }

  get (peer: string): Readonly<PeerStanding> {
    return this.peers.get(peer) ?? blank()
  }

  all (): ReadonlyMap<string, Readonly<PeerStanding>> {
    return this.peers
  }

  passed (peer: string): void {
    this.update(peer, s => { s.passed++; s.score = (1 - ALPHA) * s.score + ALPHA })
  }

  failed (peer: string): void {
    this.update(peer, s => { s.failed++; s.score = (1 - ALPHA) * s.score })
  }

  inconclusive (peer: string): void {
    this.update(peer, s => { s.inconclusive++; s.score = (1 - ALPHA) * s.score + ALPHA * 0.5 })
  }

  convict (peer: string, proofId: string): boolean {
    if (this.get(peer).convicted !== undefined) return false
    this.update(peer, s => { s.convicted = proofId; s.score = 0 })
    return true
  }

  falseAccusation (peer: string): void {
    this.update(peer, s => { s.falseAccusations++; s.score = (1 - ALPHA) * s.score })
  }

  isConvicted (peer: string): boolean {
    return this.get(peer).convicted !== undefined
  }

  /** A route-cost factor: 1 for a server with a perfect record, up to 1.5 for one with none. */
  routeFactor (peer: string): number {
    const s = this.get(peer)
    return 1 + 0.5 * (1 - s.score)
  }

  private update (peer: string, change: (s: PeerStanding) => void): void {
    const s = this.peers.get(peer) ?? blank()
    change(s)
    this.peers.set(peer, s)
    this.scheduleWrite()
  }

  private scheduleWrite (): void {
    if (this.file === undefined || this.writeTimer !== undefined) return
    this.writeTimer = setTimeout(() => { this.flush() }, 200)
    this.writeTimer.unref()
  }

  /** Writes the file now (if any). */
  flush (): void {
    clearTimeout(this.writeTimer)
    this.writeTimer = undefined
    if (this.file === undefined) return
    try {
      mkdirSync(dirname(this.file), { recursive: true })
      const tmp = `${this.file}.${process.pid}.tmp`
      writeFileSync(tmp, JSON.stringify(Object.fromEntries(this.peers), null, 1))
      renameSync(tmp, this.file)
    } catch (err) {
      log('cannot write %s: %s', this.file, (err as Error).message)
    }
  }
}

function blank (): PeerStanding {
  return { passed: 0, failed: 0, inconclusive: 0, score: INITIAL_SCORE, falseAccusations: 0 }
}

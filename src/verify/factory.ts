/** The watcher factory a swarm model takes: verification of its sessions in the given mode. */
import { join } from 'node:path'
import type { WatcherFactory } from '../swarm/index.ts'
import type { AuditPolicy, VerifyMode } from './policy.ts'
import { ReputationBook } from './reputation.ts'
import { Verifier, type VerifierOptions } from './verifier.ts'

export interface VerificationOptions {
  mode: VerifyMode
  /** where the reputation book is kept (reputation.json); none: in memory only */
  dataDir?: string
  policy?: AuditPolicy
  random?: () => number
  /** decode steps an audit replays per step; default 4 (benchmarks try others) */
  chunk?: number
  /** told of the verifier once it exists (tests, the API's metrics) */
  onVerifier?: (v: Verifier) => void
  /** told of every audit's outcome (benchmarks) */
  onAudit?: VerifierOptions['onAudit']
  /** told of every conviction (the ledger slashes the convicted server) */
  onConviction?: (suspect: string, proofId: string) => void
}

export const REPUTATION_FILE = 'reputation.json'

export function verification (options: VerificationOptions): WatcherFactory {
  return (client, source, modelId) => {
    const book = new ReputationBook(options.dataDir === undefined ? undefined : join(options.dataDir, REPUTATION_FILE))
    const v = new Verifier({ client, source, modelId, mode: options.mode, book, policy: options.policy, random: options.random, chunk: options.chunk, onAudit: options.onAudit, onConviction: options.onConviction })
    options.onVerifier?.(v)
    return v
  }
}

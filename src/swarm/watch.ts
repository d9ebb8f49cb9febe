/**
 * How layers above the swarm (verification) look into chain sessions without the swarm knowing what
 * they do: a ChainWatcher is told of every session that opens and every step it completes, can read
 * each hop's history, and can declare a server's work untrustworthy, which makes the session rebuild
 * that hop and every later one from corrected inputs before its next step.
 */
import type { ExecutorStats, ModelConfig, VerificationReport } from '../model/index.ts'
import type { FrameDType } from '../tensor/index.ts'
import type { GridError } from '../util/errors.ts'
import type { StepRecord } from './hop.ts'

export interface HopView {
  readonly peer: string
  readonly addrs: readonly string[]
  readonly start: number
  readonly end: number
  /** the session id at that server */
  readonly session: string
  /** its history so far: every step with input, output and the server's receipt */
  steps (): StepRecord[]
}

export interface WatchedSession {
  readonly sessionId: string
  readonly modelId: string
  readonly config: ModelConfig
  readonly dtype: FrameDType
  readonly maxLength: number
  /** the hops of the route now */
  hops (): readonly HopView[]
  /**
   * `peer`'s outputs cannot be trusted: before the next step the session replaces its hop and every
   * hop after it (their caches were built on its outputs), replaying the history into servers
   * without it. Ignored once the session is closed.
   */
  distrust (peer: string, reason: GridError): void
}

export interface SessionWatch {
  /**
   * Step `step` came through the whole chain. The session waits for the returned promise before it
   * hands the step's output on (strict verification checks it here); a distrust() meanwhile makes
   * the output come from the rebuilt route.
   */
  onStep? (step: number): void | Promise<void>
  /** the session closed (its hops' histories stay readable) */
  onClose? (): void
}

export interface ChainWatcher {
  open (session: WatchedSession): SessionWatch | undefined
  /** what it did for one session, by the session's id */
  report? (sessionId: string): VerificationReport | undefined
  /** counters for metrics */
  stats? (): NonNullable<ExecutorStats['verification']>
  close? (): Promise<void>
}

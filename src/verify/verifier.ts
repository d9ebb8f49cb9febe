/**
 * Verification of a swarm client's sessions (a ChainWatcher, and the client's TrustView). In
 * `sample` mode each hop of a request is audited with the policy's rate (more for servers on
 * probation): at a random position of the request, chosen when it starts, its history so far is replayed
 * on another server and compared. A failed audit that a checked fraud proof confirms convicts the
 * server: the proof is published in the swarm, the server leaves every route, and if the request is
 * still running its hop and the hops after it are rebuilt from the corrected state. In `strict` mode
 * every step of every hop is checked by a second server before the token is used (strict.ts).
 * Proofs others published are checked by recomputation before they convict anyone.
 */
import { type Backend, createBackend } from '../kernels/index.ts'
import type { ModelSource } from '../model/index.ts'
import { findProofs, publishProof } from '../net/index.ts'
import type { ChainWatcher, HopView, SessionWatch, StepRecord, SwarmClient, TrustView, WatchedSession } from '../swarm/index.ts'
import { BadOutputError } from '../util/errors.ts'
import { logger } from '../util/log.ts'
import { type AuditContext, type AuditOutcome, type ReplayRef, audit } from './judge.ts'
import { type AuditPolicy, DEFAULT_POLICY, type VerifyMode } from './policy.ts'
import { checkProof, openProof } from './proof.ts'
import { Recomputer, spanQuantized } from './recompute.ts'
import type { ReputationBook } from './reputation.ts'
import { StrictChecker } from './strict.ts'
import { tolerance } from './tolerance.ts'

const log = logger('verify')

export type AuditResult = AuditOutcome['result']

export interface VerifierOptions {
  readonly client: SwarmClient
  readonly source: ModelSource
  readonly modelId: string
  readonly mode: VerifyMode
  readonly book: ReputationBook
  readonly policy?: AuditPolicy
  /** uniform in [0, 1); default Math.random (tests and benchmarks seed it) */
  readonly random?: () => number
  /** decode steps replayed per audit step; default 4 */
  readonly chunk?: number
  /** how often others' proofs are looked for; default 60 s */
  readonly proofScanMs?: number
  /** told of every audit's outcome, with the audited server and its session (benchmarks count what audits cost) */
  readonly onAudit?: (outcome: AuditOutcome, audited: ReplayRef) => void
  /** told of every conviction: the suspect and the id of the checked proof (the ledger slashes it) */
  readonly onConviction?: (suspect: string, proofId: string) => void
}

/** Per request: what verification did. */
export interface SessionReport {
  audits: number
  failures: number
}

export class Verifier implements ChainWatcher, TrustView {
  readonly counts: Record<AuditResult, number> = { pass: 0, fail: 0, 'bad-receipt': 0, inconclusive: 0, skipped: 0 }
  convictions = 0
  /** rows × blocks recomputed by audits (a measure of the compute they cost the swarm) */
  auditedRowBlocks = 0
  readonly reports = new Map<string, SessionReport>()
  private readonly random: () => number
  private readonly policy: AuditPolicy
  private recomputer: Promise<Recomputer> | undefined
  private backend: Backend | undefined
  private readonly running = new Set<Promise<void>>()
  private readonly seenProofs = new Set<string>()
  private readonly scanned = new Map<string, number>()
  private readonly scanTimer: NodeJS.Timeout
  private closed = false

  constructor (private readonly options: VerifierOptions) {
    this.random = options.random ?? Math.random
    this.policy = options.policy ?? DEFAULT_POLICY
    options.client.trust = this
    this.scanTimer = setInterval(() => { void this.scanProofs() }, Math.min(options.proofScanMs ?? 60_000, 60_000))
    this.scanTimer.unref()
  }

  get book (): ReputationBook {
    return this.options.book
  }

  // ---- TrustView

  excluded (peer: string): boolean {
    return this.options.book.isConvicted(peer)
  }

  factor (peer: string): number {
    return this.options.book.routeFactor(peer)
  }

  // ---- ChainWatcher

  open (session: WatchedSession): SessionWatch | undefined {
    if (this.options.mode === 'off' || this.closed) return undefined
    const report: SessionReport = { audits: 0, failures: 0 }
    this.reports.set(session.sessionId, report)
    if (this.reports.size > 10_000) this.reports.delete(this.reports.keys().next().value!)
    if (this.options.mode === 'strict') {
      return new StrictChecker(session, async hop => await this.auditContext(session, hop), report, (outcome, hop) => { this.settle(session, outcome, hop) })
    }
    // sample: per hop (by its session id at the server), the position after which it is audited
    const plan = new Map<string, number | 'done' | 'no'>()
    const due = (closing: boolean): void => {
      for (const hop of session.hops()) {
        const steps = hop.steps()
        let at = plan.get(hop.session)
        if (at === undefined) {
          at = this.random() < this.rate(hop.peer) ? this.pickPosition(session, steps) : 'no'
          plan.set(hop.session, at)
        }
        if (typeof at === 'number' && (closing || reached(steps, session.config.dim) >= at)) {
          plan.set(hop.session, 'done')
          this.launch(session, hop, report)
        }
      }
    }
    return { onStep: () => { due(false) }, onClose: () => { due(true) } }
  }

  report (sessionId: string): SessionReport | undefined {
    return this.reports.get(sessionId)
  }

  stats (): { audits: Record<string, number>, convictions: number } {
    return { audits: { ...this.counts }, convictions: this.convictions }
  }

  /** The audit rate for a server: higher while on probation. */
  rate (peer: string): number {
    return this.options.book.get(peer).passed < this.policy.probationAudits ? this.policy.probationRate : this.policy.rate
  }

  /**
   * A position of the request, uniformly at random from the prompt's end to the session's length,
   * after which to audit (the request may end sooner: then at its end). Positions, not steps: a
   * speculative step covers several, so a step drawn among maxLength would fall past the end of a
   * request that drafted well and replay all of it more often than the draw says.
   */
  private pickPosition (session: WatchedSession, steps: readonly StepRecord[]): number {
    const prompt = (steps[0]?.input.length ?? session.config.dim) / session.config.dim
    return prompt + Math.floor(this.random() * (session.maxLength - prompt + 1))
  }

  private launch (session: WatchedSession, hop: HopView, report: SessionReport): void {
    report.audits++
    const records = hop.steps()
    this.auditedRowBlocks += records.reduce((n, r) => n + r.input.length, 0) / session.config.dim * (hop.end - hop.start)
    const task = (async () => {
      let outcome: AuditOutcome
      try {
        outcome = await audit(hop, records, await this.auditContext(session, hop))
      } catch (err) {
        outcome = { result: 'skipped', why: (err as Error).message }
      }
      if (outcome.result === 'fail' || outcome.result === 'bad-receipt') report.failures++
      this.settle(session, outcome, hop)
    })()
    this.track(task)
  }

  /** Keeps `task` among the work idle() and close() wait for. */
  private track (task: Promise<void>): void {
    const t = task.finally(() => { this.running.delete(t) })
    this.running.add(t)
  }

  /** Books an audit's outcome: reputation, conviction, proof, and the live session's route. */
  private settle (session: WatchedSession, outcome: AuditOutcome, hop: HopView): void {
    const audited = hop.peer
    this.counts[outcome.result]++
    this.options.onAudit?.(outcome, { peer: hop.peer, session: hop.session })
    log('audit of %s: %s %s', audited.slice(-8), outcome.result, 'why' in outcome ? outcome.why : '')
    const { book } = this.options
    switch (outcome.result) {
      case 'pass': book.passed(audited); break
      case 'inconclusive': book.inconclusive(audited); break
      case 'bad-receipt':
        book.failed(outcome.suspect)
        session.distrust(outcome.suspect, new BadOutputError(`its receipts do not hold: ${outcome.why}`, outcome.suspect))
        break
      case 'fail':
        book.failed(outcome.suspect)
        if (book.convict(outcome.suspect, outcome.proof.id)) this.convictions++
        this.options.onConviction?.(outcome.suspect, outcome.proof.id)
        session.distrust(outcome.suspect, new BadOutputError(`convicted by fraud proof ${outcome.proof.id.slice(0, 16)}`, outcome.suspect))
        this.seenProofs.add(outcome.proof.id)
        this.track(this.publish(outcome.suspect, outcome.proof.bytes))
        break
      case 'skipped': break
    }
  }

  /** What an audit of `hop` needs: the replay job, the tolerance, the servers that may audit it, this peer's recomputation. */
  private async auditContext (session: WatchedSession, hop: HopView): Promise<AuditContext> {
    const { client, modelId, source } = this.options
    const servers = await client.servers(modelId, session.config.nLayers)
    const banned = client.banned()
    const candidates = servers
      .filter(s => s.peer !== hop.peer && s.start <= hop.start && hop.end <= s.end && !banned.has(s.peer) && !this.excluded(s.peer) && !sharesHost(s.addrs, hop.addrs))
      .map(s => ({ id: s.peer, addrs: s.addrs }))
    shuffle(candidates, this.random)
    return {
      node: client.node,
      job: { modelId, start: hop.start, end: hop.end, dim: session.config.dim, dtype: session.dtype, maxLength: session.maxLength },
      tolerance: tolerance({ dtype: session.dtype, quantized: spanQuantized(source, hop.start, hop.end) }),
      candidates,
      chunk: this.options.chunk ?? 4,
      recomputer: await this.recompute().catch(() => undefined),
      payer: client.payer
    }
  }

  /** This peer's own recomputation of spans, from its model file (loaded on first use). */
  recompute (): Promise<Recomputer> {
    this.recomputer ??= (async () => {
      this.backend = await createBackend('auto', { threads: 1 })
      return new Recomputer(this.options.source, this.backend, this.options.modelId)
    })()
    return this.recomputer
  }

  /** Hands a proof to a few servers of the swarm, which keep and announce it. */
  private async publish (suspect: string, bytes: Uint8Array): Promise<void> {
    const { client, modelId, source } = this.options
    const servers = (await client.servers(modelId, source.config.nLayers).catch(() => [])).filter(s => !this.excluded(s.peer)).map(s => ({ id: s.peer, addrs: s.addrs }))
    shuffle(servers, this.random)
    const took = await publishProof(client.node, servers, suspect, bytes).catch(() => 0)
    log('published a proof against %s to %d servers', suspect.slice(-8), took)
  }

  /** Looks for proofs others published against the servers this client knows, and checks new ones. */
  async scanProofs (): Promise<void> {
    const { client, modelId, source } = this.options
    const servers = await client.servers(modelId, source.config.nLayers).catch(() => [])
    const now = Date.now()
    await Promise.all(servers.map(async s => {
      if (this.excluded(s.peer) || now - (this.scanned.get(s.peer) ?? 0) < (this.options.proofScanMs ?? 60_000)) return
      this.scanned.set(s.peer, now)
      for (const [accuser, bytes] of await findProofs(client.node, s.peer).catch(() => [])) await this.consider(accuser, bytes)
    }))
  }

  /** Checks a published proof; convicts its suspect if it holds, costs its accuser standing if not. */
  async consider (accuser: string, bytes: Uint8Array): Promise<boolean> {
    let opened
    try {
      opened = await openProof(bytes)
    } catch (err) {
      log('a malformed proof from %s: %s', accuser.slice(-8), (err as Error).message)
      this.options.book.falseAccusation(accuser)
      return false
    }
    if (this.seenProofs.has(opened.id)) return this.options.book.isConvicted(opened.proof.suspect)
    this.seenProofs.add(opened.id)
    if (opened.proof.accuser !== accuser || opened.proof.model !== this.options.modelId) return false
    const verdict = await checkProof(opened.proof, await this.recompute())
    if (verdict.valid) {
      if (this.options.book.convict(opened.proof.suspect, opened.id)) this.convictions++
      this.options.onConviction?.(opened.proof.suspect, opened.id)
      log('proof %s from %s convicts %s', opened.id.slice(0, 16), accuser.slice(-8), opened.proof.suspect.slice(-8))
    } else {
      log('proof %s from %s does not hold: %s', opened.id.slice(0, 16), accuser.slice(-8), verdict.reason)
      this.options.book.falseAccusation(accuser)
    }
    return verdict.valid
  }

  /** Waits for the audits under way (tests, shutdown). */
  async idle (): Promise<void> {
    while (this.running.size > 0) await Promise.allSettled([...this.running])
  }

  async close (): Promise<void> {
    this.closed = true
    clearInterval(this.scanTimer)
    await this.idle()
    this.options.book.flush()
    await (await this.recomputer?.catch(() => undefined))?.close()
    this.backend?.dispose()
  }
}

/** The position a hop's cache has reached: the end of its last step. */
function reached (steps: readonly StepRecord[], dim: number): number {
  const last = steps[steps.length - 1]
  return last === undefined ? 0 : last.from + last.input.length / dim
}

/** Two servers with a public or LAN address in common probably have one operator: one does not audit the other. */
function sharesHost (a: readonly string[], b: readonly string[]): boolean {
  const hosts = (addrs: readonly string[]): string[] => addrs.map(x => /^\/ip[46]\/([^/]+)/.exec(x)?.[1] ?? '').filter(h => h !== '' && h !== '127.0.0.1' && h !== '::1' && h !== '0.0.0.0')
  const mine = new Set(hosts(a))
  return hosts(b).some(h => mine.has(h))
}

function shuffle<T> (xs: T[], random: () => number): void {
  for (let i = xs.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [xs[i], xs[j]] = [xs[j]!, xs[i]!]
  }
}

/**
 * Strict verification: every step of every hop is also run by a second server (a shadow session per
 * hop, fed the same inputs), and compared before the step's output is used. A mismatch is audited in
 * full (arbiter, proof); a convicted primary is rebuilt by the chain before the output goes on, so
 * the user never gets a token that rests on a cheat. It costs a second server's compute per hop and
 * its round trip per token, for users who want that certainty.
 */
import type { HopView, SessionWatch, WatchedSession } from '../swarm/index.ts'
import { logger } from '../util/log.ts'
import { type AuditContext, type AuditOutcome, audit, compareRecords } from './judge.ts'
import { ReplaySession, contiguous, group } from './replay.ts'

const log = logger('verify:strict')

export class StrictChecker implements SessionWatch {
  /** per hop (its session id at the server): the shadow session */
  private readonly shadows = new Map<string, Promise<ReplaySession | undefined>>()

  constructor (
    private readonly session: WatchedSession,
    private readonly contextFor: (hop: HopView) => Promise<AuditContext>,
    private readonly report: { audits: number, failures: number },
    private readonly settle: (outcome: AuditOutcome, audited: HopView) => void
  ) {}

  async onStep (step: number): Promise<void> {
    await Promise.all(this.session.hops().map(async hop => { await this.check(hop, step) }))
  }

  onClose (): void {
    for (const s of this.shadows.values()) void s.then(async r => { await r?.close() })
  }

  private async check (hop: HopView, step: number): Promise<void> {
    const records = contiguous(hop.steps(), this.session.config.dim)
    const mine = records.find(r => r.step === step)
    if (mine === undefined) return
    const ctx = await this.contextFor(hop)
    let shadow = this.shadows.get(hop.session)
    if (shadow === undefined) {
      shadow = this.openShadow(hop, records.filter(r => r.step !== step), ctx)
      this.shadows.set(hop.session, shadow)
    }
    const replay = await shadow
    this.report.audits++
    let outcome: AuditOutcome
    if (replay === undefined) {
      outcome = { result: 'skipped', why: 'no second server for these blocks' }
    } else {
      try {
        const theirs = await replay.run([[mine]], { signal: ctx.signal })
        const cmp = compareRecords([mine], theirs, ctx.job.dim, ctx.tolerance)
        // a mismatch is audited in full, the shadow first among the candidates
        outcome = cmp.firstBadRow < 0
          ? { result: 'pass', distance: cmp.distance, replays: [{ peer: replay.server.id, session: replay.session }] }
          : await audit(hop, records, { ...ctx, candidates: [replay.server, ...ctx.candidates.filter(c => c.id !== replay.server.id)] })
      } catch (err) {
        log('shadow of %s failed: %s', hop.peer.slice(-8), (err as Error).message)
        this.shadows.delete(hop.session)
        outcome = { result: 'skipped', why: (err as Error).message }
      }
    }
    if (outcome.result === 'fail' || outcome.result === 'bad-receipt') this.report.failures++
    this.settle(outcome, hop)
  }

  /** A shadow session at the first candidate, caught up on the hop's earlier steps. */
  private async openShadow (hop: HopView, earlier: ReturnType<typeof contiguous>, ctx: AuditContext): Promise<ReplaySession | undefined> {
    const server = ctx.candidates[0]
    if (server === undefined) return undefined
    try {
      const replay = await ReplaySession.open(ctx.node, server, ctx.job, { signal: ctx.signal, payer: ctx.payer })
      if (earlier.length > 0) await replay.run(group(earlier, 8, ctx.job.dim), { signal: ctx.signal })
      return replay
    } catch (err) {
      log('no shadow for %s at %s: %s', hop.peer.slice(-8), server.id.slice(-8), (err as Error).message)
      return undefined
    }
  }
}

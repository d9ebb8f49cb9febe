/**
 * The speculative side of the generation loop. After each token the loop asks for the logits of
 * the next position: if the token is the draft the last step already ran, its row is at hand
 * (no step at all); otherwise the caches are rolled back to just before the token, the drafter
 * proposes k tokens, and the token and the drafts go through the spans as one step of k + 1 rows,
 * whose logits are kept for the positions ahead. The loop picks every token exactly as without
 * speculation (penalties, grammar, sampler): for point-mass drafts that is already speculative
 * sampling's rule; for drafts drawn from a distribution, pickWith() applies the rule instead.
 */
import { throwIfAborted } from '../../util/errors.ts'
import { logger } from '../../util/log.ts'
import { type Pipeline, forwardTokens } from '../prefill.ts'
import type { Distribution, Sampler } from '../sampler.ts'
import type { SpanSession } from '../span.ts'
import { verifyDraft } from './accept.ts'
import { DraftController } from './controller.ts'
import type { Drafter, SpeculationReport } from './drafter.ts'

const log = logger('model:speculate')

/**
 * Rows a session may compute per position it can hold: drafts are cut so that the rest of the
 * sequence can always be decoded plainly within it. Twice, as a swarm wallet commits to pay for
 * (src/ledger/wallet.ts, tokensPerPosition): rejected drafts never exhaust a server's payment.
 */
export const ROWS_PER_POSITION = 2

interface Ahead {
  /** the draft token the row's step ran at this position */
  readonly token: number
  /** the distribution it was drawn from, if not a point mass */
  readonly q: Distribution | undefined
  /** logits (vocabSize) of the position after it */
  readonly logits: Float32Array
}

export class Speculator {
  readonly report: SpeculationReport = { steps: 0, drafted: 0, accepted: 0 }
  private ahead: Ahead[] = []
  /** drafts of the last step, and how many of them were kept so far */
  private drafted = 0
  private kept = 0
  /** positions in the sessions' caches */
  private cached: number
  /** rows computed so far (the prompt's and every step's) */
  private rows: number

  constructor (private readonly pipeline: Pipeline, private readonly sessions: readonly SpanSession[], private readonly drafter: Drafter,
    private readonly controller: DraftController, promptLength: number, private readonly maxLength: number) {
    this.cached = promptLength
    this.rows = promptLength
  }

  /**
   * Picks the token at the next position from its (penalized, masked) logits: the sampler's pick,
   * or speculative sampling's rule against a draft drawn from a distribution.
   */
  pickWith (sampler: Sampler, l: Float32Array): number {
    const d = this.ahead[0]
    if (d?.q === undefined) return sampler.pick(l)
    return verifyDraft(sampler.distribution(l), d.token, d.q, () => sampler.uniform())
  }

  /**
   * The logits after `id`, the token just taken at position `pos`; `history` ends with it and
   * `remaining` tokens may still follow it.
   */
  async next (id: number, pos: number, history: readonly number[], remaining: number, signal: AbortSignal | undefined): Promise<Float32Array> {
    const d = this.ahead.shift()
    if (d !== undefined && d.token === id) {
      this.kept++
      if (this.ahead.length === 0) this.settle()
      return d.logits
    }
    this.settle()
    const { sessions, pipeline } = this
    if (this.cached > pos) {
      await Promise.all(sessions.map(async s => { await s.rollback(pos, { signal }) }))
      this.cached = pos
    }
    this.ahead = []
    throwIfAborted(signal)
    // drafts past what may still be generated, or past the context, are never used; and the rows
    // left must cover decoding the rest plainly
    const spare = ROWS_PER_POSITION * this.maxLength - this.rows - (this.maxLength - pos)
    const k = Math.max(0, Math.min(this.controller.next(), remaining - 1, this.maxLength - pos - 1, spare))
    const t0 = performance.now()
    const draft = k > 0 ? await this.drafter.draft(history, k, { signal }) : { tokens: [] }
    const tokens = draft.tokens.slice(0, k)
    if (tokens.length > 0) this.controller.observeDraft(tokens.length, (performance.now() - t0) / 1000)
    const t1 = performance.now()
    const hidden = await forwardTokens(pipeline, sessions, [id, ...tokens], pos, signal) // (1 + drafts, dim)
    this.controller.observeStep(1 + tokens.length, (performance.now() - t1) / 1000)
    this.cached = pos + 1 + tokens.length
    this.rows += 1 + tokens.length
    this.report.steps++
    this.report.drafted += tokens.length
    this.drafted = tokens.length
    this.kept = 0
    const logits = await pipeline.ends.logits(hidden) // (1 + drafts, vocabSize)
    const V = pipeline.config.vocabSize
    this.ahead = tokens.map((token, i) => ({ token, q: draft.dists?.[i], logits: logits.subarray((i + 1) * V, (i + 2) * V) }))
    return logits.subarray(0, V)
  }

  /** Books the last step's drafts once it is known how many were kept. */
  private settle (): void {
    if (this.drafted === 0) return
    this.controller.observeAcceptance(this.drafted, this.kept)
    this.report.accepted += this.kept
    log('kept %d of %d drafts (α ≈ %s)', this.kept, this.drafted, this.controller.alpha.toFixed(2))
    this.drafted = 0
    this.kept = 0
  }

  async close (): Promise<void> {
    this.settle()
    await this.drafter.close?.()
  }
}

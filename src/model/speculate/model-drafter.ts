/**
 * Drafting with a small local model of the same vocabulary (a quantized copy of the target, or a
 * smaller model with its tokenizer). Each generation gets its own sessions on the draft model's
 * spans; each round the draft model's cache is cut back to what it shares with the history, the
 * rest of the history is run through it, and k tokens are drafted one by one: the argmax when the
 * target is greedy (a point mass), otherwise drawn with the target's sampling settings, reporting
 * the distribution each came from so the acceptance rule stays exact.
 */
import { randomId } from '../../util/bytes.ts'
import { InvalidArgumentError, throwIfAborted } from '../../util/errors.ts'
import { type Pipeline, closeAll, forwardTokens, openSessions } from '../prefill.ts'
import { type Distribution, Sampler } from '../sampler.ts'
import type { SpanSession } from '../span.ts'
import type { Draft, Drafter, DrafterContext, DraftSource } from './drafter.ts'

interface DraftCandidate {
  readonly config: { readonly vocabSize: number }
  readonly tokenizer?: { piece (id: number): string }
}

export class ModelDraftSource implements DraftSource {
  constructor (private readonly model: Pipeline, readonly name = 'model') {}

  /** Refuses a draft model whose vocabulary is not the target's (its size, then every token's piece). */
  static check (draft: DraftCandidate, target: DraftCandidate): void {
    const n = target.config.vocabSize
    if (draft.config.vocabSize !== n) {
      throw new InvalidArgumentError(`the draft model's vocabulary has ${draft.config.vocabSize} tokens, the model's ${n}: a drafter must share the tokenizer`)
    }
    for (let id = 0; id < n && draft.tokenizer !== undefined && target.tokenizer !== undefined; id++) {
      if (draft.tokenizer.piece(id) !== target.tokenizer.piece(id)) {
        throw new InvalidArgumentError(`the draft model's token ${id} is ${JSON.stringify(draft.tokenizer.piece(id))}, the model's ${JSON.stringify(target.tokenizer.piece(id))}: a drafter must share the tokenizer`)
      }
    }
  }

  async open (context: DrafterContext): Promise<Drafter> {
    const maxLength = Math.min(context.maxLength, this.model.config.contextLength)
    const sessions = await openSessions(this.model, `draft-${randomId()}`, maxLength, context.signal)
    return new ModelDrafter(this.model, sessions, maxLength, context)
  }
}

class ModelDrafter implements Drafter {
  /** the tokens in the draft model's cache, in order */
  private cached: number[] = []
  /** logits after the last cached token, if known */
  private logits: Float32Array | undefined
  private readonly sampler: Sampler
  private readonly greedy: boolean

  constructor (private readonly model: Pipeline, private readonly sessions: SpanSession[], private readonly maxLength: number, context: DrafterContext) {
    const { temperature, topK, topP, minP, seed } = context.sampling
    this.sampler = new Sampler({ temperature, topK, topP, minP, seed: seed === undefined ? undefined : (seed ^ 0x5bd1e995) >>> 0 })
    this.greedy = this.sampler.temperature === 0
  }

  async draft (history: readonly number[], k: number, options: { signal?: AbortSignal } = {}): Promise<Draft> {
    const { signal } = options
    k = Math.min(k, this.maxLength - history.length)
    if (k <= 0) return { tokens: [] }
    await this.sync(history, signal)
    const tokens: number[] = []
    const dists: Distribution[] = []
    for (let i = 0; i < k; i++) {
      throwIfAborted(signal)
      const l = this.logits!
      if (this.greedy) {
        tokens.push(this.sampler.pick(l))
      } else {
        const q = this.sampler.distribution(l)
        tokens.push(this.sampler.draw(q))
        dists.push(q)
      }
      if (i < k - 1) await this.push([tokens[i]!], signal)
    }
    return this.greedy ? { tokens } : { tokens, dists }
  }

  /** Makes the cache hold exactly `history`, with the logits after it. */
  private async sync (history: readonly number[], signal: AbortSignal | undefined): Promise<void> {
    let common = 0
    while (common < this.cached.length && common < history.length && this.cached[common] === history[common]) common++
    if (common === history.length && common === this.cached.length && this.logits !== undefined) return
    // the last token is always run again, for the logits after it
    common = Math.min(common, history.length - 1)
    if (common < this.cached.length) {
      for (const s of this.sessions) await s.rollback(common, { signal })
      this.cached.length = common
      this.logits = undefined
    }
    await this.push(history.slice(common), signal)
  }

  private async push (ids: readonly number[], signal: AbortSignal | undefined): Promise<void> {
    const hidden = await forwardTokens(this.model, this.sessions, ids, this.cached.length, signal)
    this.cached.push(...ids)
    this.logits = await this.model.ends.logits(hidden.subarray(hidden.length - this.model.config.dim))
  }

  async close (): Promise<void> {
    await closeAll(this.sessions)
  }
}

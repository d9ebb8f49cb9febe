/**
 * One admitted generation request: it holds a limiter slot from admission until its tokens are
 * consumed (or it is closed), tokenizes the prompt (refusing one too long by its length first),
 * runs its n choices one after the other (sharing one prefill), counts tokens for /metrics, and
 * yields to the event loop between tokens so concurrent requests, and disconnects that abort this
 * one, are noticed while it runs.
 */
import { setImmediate as nextTurn } from 'node:timers/promises'
import { type GenerateOptions, type GeneratedToken, PrefillShare } from '../model/index.ts'
import { encodePrompt } from './prompt.ts'
import type { GenerationLike, ServedModel } from './engine.ts'
import type { Limiter, Release } from './limiter.ts'
import type { Metrics } from './metrics.ts'

export interface Prompt {
  /** text (tokenized by the model) or token ids */
  readonly input: string | readonly number[]
  /** prepend BOS to a text prompt; default: the tokenizer's setting */
  readonly addBos?: boolean
}

export interface JobContext {
  readonly limiter: Limiter
  readonly metrics: Metrics
}

/** One token of one choice. */
export interface JobEvent {
  readonly index: number
  readonly token: GeneratedToken
}

/** Waits for a slot, then starts `n` generations; throws OverloadedError, AbortError or the model's own errors. */
export async function startJob (ctx: JobContext, model: ServedModel, prompt: Prompt, options: GenerateOptions, n: number, signal: AbortSignal): Promise<Job> {
  const release = await ctx.limiter.acquire({ signal })
  try {
    const ids = typeof prompt.input === 'string' ? await encodePrompt(model, prompt.input, { addBos: prompt.addBos, signal }) : prompt.input
    const share = n > 1 ? new PrefillShare(n) : undefined
    // each choice its own seed stream: seed, seed + 1, ... (random seeds without one)
    const choices = Array.from({ length: n }, (_, i) => model.generate(ids, {
      ...options, signal, share, seed: options.seed === undefined ? undefined : options.seed + i
    }))
    return new Job(choices, release, ctx.metrics, share)
  } catch (err) {
    release()
    throw err
  }
}

export class Job {
  /** per choice: its text so far */
  readonly texts: string[]
  /** performance.now() when admitted, at the first token (the prompt is processed), at the end */
  readonly admittedAt = performance.now()
  firstTokenAt: number | undefined
  endedAt: number | undefined

  constructor (readonly choices: readonly GenerationLike[], private readonly release: Release, private readonly metrics: Metrics,
    private readonly share?: PrefillShare) {
    this.texts = choices.map(() => '')
  }

  /** the first choice (n = 1) */
  get generation (): GenerationLike {
    return this.choices[0]!
  }

  /** Every token of every choice, choice after choice; frees the slot when done or abandoned. */
  async * events (): AsyncGenerator<JobEvent> {
    try {
      for (const [index, generation] of this.choices.entries()) {
        let counted = 0
        for await (const token of generation) {
          this.firstTokenAt ??= performance.now()
          for (; counted < generation.completionTokens; counted++) this.metrics.countToken()
          this.texts[index] += token.text
          yield { index, token }
          await nextTurn()
        }
      }
      this.metrics.promptTokens += this.generation.promptTokens
      this.endedAt = performance.now()
    } finally {
      void this.share?.dispose()
      this.release()
    }
  }

  /** Runs every choice to its end. */
  async collect (): Promise<void> {
    for await (const _ of this.events());
  }

  /** Frees the slot of a job that will not be consumed. */
  close (): void {
    void this.share?.dispose()
    this.release()
  }

  /**
   * What verification did for the request's work, over every choice (the `gridllm` field of a
   * response): audits of the swarm's steps and how many failed; undefined if nothing verifies it.
   */
  get verification (): { audits: number, audit_failures: number } | undefined {
    const reports = this.choices.flatMap(g => g.verification === undefined ? [] : [g.verification])
    if (reports.length === 0) return undefined
    return { audits: reports.reduce((n, r) => n + r.audits, 0), audit_failures: reports.reduce((n, r) => n + r.failures, 0) }
  }

  /** The response's `gridllm` field as a spreadable object: empty when nothing verified the work. */
  get extension (): { gridllm?: { audits: number, audit_failures: number } } {
    const verification = this.verification
    return verification === undefined ? {} : { gridllm: verification }
  }

  /** OpenAI's usage: the prompt once, the tokens of every choice. */
  get usage (): { prompt_tokens: number, completion_tokens: number, total_tokens: number } {
    const promptTokens = this.generation.promptTokens
    const completionTokens = this.choices.reduce((sum, g) => sum + g.completionTokens, 0)
    return { prompt_tokens: promptTokens, completion_tokens: completionTokens, total_tokens: promptTokens + completionTokens }
  }
}

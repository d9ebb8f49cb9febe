/**
 * One admitted generation: it holds a limiter slot from admission until its tokens are consumed
 * (or it is closed), counts tokens for /metrics, and yields to the event loop between tokens so
 * concurrent requests, and disconnects that abort this one, are noticed while it runs.
 */
import { setImmediate as nextTurn } from 'node:timers/promises'
import type { GenerateOptions } from '../model/index.ts'
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

/** Waits for a slot, then starts the generation; throws OverloadedError, AbortError or the model's own errors. */
export async function startJob (ctx: JobContext, model: ServedModel, prompt: Prompt, options: GenerateOptions, signal: AbortSignal): Promise<Job> {
  const release = await ctx.limiter.acquire({ signal })
  try {
    const generation = model.generate(prompt.input, { ...options, addBos: prompt.addBos, signal })
    return new Job(generation, release, ctx.metrics)
  } catch (err) {
    release()
    throw err
  }
}

export class Job {
  text = ''
  /** performance.now() when admitted, at the first token (the prompt is processed), at the end */
  readonly admittedAt = performance.now()
  firstTokenAt: number | undefined
  endedAt: number | undefined
  private counted = 0

  constructor (readonly generation: GenerationLike, private readonly release: Release, private readonly metrics: Metrics) {}

  /** The generated text piece by piece (empty pieces skipped); frees the slot when done or abandoned. */
  async * texts (): AsyncGenerator<string> {
    try {
      for await (const token of this.generation) {
        this.firstTokenAt ??= performance.now()
        for (; this.counted < this.generation.completionTokens; this.counted++) this.metrics.countToken()
        if (token.text !== '') {
          this.text += token.text
          yield token.text
        }
        await nextTurn()
      }
      this.metrics.promptTokens += this.generation.promptTokens
      this.endedAt = performance.now()
    } finally {
      this.release()
    }
  }

  /** Runs to the end and returns the whole text. */
  async collect (): Promise<string> {
    for await (const _ of this.texts());
    return this.text
  }

  /** Frees the slot of a job that will not be consumed. */
  close (): void {
    this.release()
  }

  get usage (): { prompt_tokens: number, completion_tokens: number, total_tokens: number } {
    const { promptTokens, completionTokens } = this.generation
    return { prompt_tokens: promptTokens, completion_tokens: completionTokens, total_tokens: promptTokens + completionTokens }
  }
}

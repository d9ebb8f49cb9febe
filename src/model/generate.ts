/**
 * The generation loop: embed → every span → head → sample, token by token. It only sees
 * SpanExecutors, so a local model, in-process spans and a swarm route all run through it.
 */
import { ContextOverflowError, InvalidArgumentError, throwIfAborted } from '../util/errors.ts'
import { randomId } from '../util/bytes.ts'
import { logger } from '../util/log.ts'
import type { ModelConfig } from './config.ts'
import type { ModelEnds } from './ends.ts'
import { Sampler, type SamplerOptions } from './sampler.ts'
import type { SpanExecutor, SpanSession } from './span.ts'
import { StopMatcher } from './stop.ts'
import { StreamDecoder, type Tokenizer } from './tokenizer/index.ts'

const log = logger('model:generate')

export interface GenerateOptions extends SamplerOptions {
  /** most tokens to generate; default: until the context is full */
  maxTokens?: number
  /** strings that end the generation; never part of the output */
  stop?: readonly string[]
  /** token ids that end the generation, besides the tokenizer's end-of-sequence tokens */
  stopTokens?: readonly number[]
  /** prepend BOS to a text prompt (default: the tokenizer's setting) */
  addBos?: boolean
  signal?: AbortSignal
}

export interface GeneratedToken {
  readonly id: number
  /** text this token completed (may be empty while a character or a possible stop string is pending) */
  readonly text: string
}
// The end-of-sequence token is yielded only when it releases text held back until then.

export type FinishReason = 'stop' | 'length'

/** What generate() needs: a tokenizer, the ends, and spans that tile [0, nLayers). */
export interface Pipeline {
  readonly config: ModelConfig
  readonly tokenizer: Tokenizer
  readonly ends: ModelEnds
  readonly executors: readonly SpanExecutor[]
}

/** An async iterable of tokens; after iteration, `finishReason` and the counts are set. */
export class Generation implements AsyncIterable<GeneratedToken> {
  readonly promptIds: readonly number[]
  finishReason: FinishReason | undefined
  completionTokens = 0
  text = ''

  constructor (private readonly pipeline: Pipeline, prompt: string | readonly number[], private readonly options: GenerateOptions = {}) {
    const { tokenizer, config } = pipeline
    let ids = typeof prompt === 'string' ? tokenizer.encode(prompt, { addBos: options.addBos }) : [...prompt]
    if (ids.length === 0) {
      if (tokenizer.bos === undefined) throw new InvalidArgumentError('the prompt is empty and the model has no BOS token to start from')
      ids = [tokenizer.bos]
    }
    if (ids.length >= config.contextLength) {
      throw new ContextOverflowError(`the prompt is ${ids.length} tokens; the model's context holds ${config.contextLength}`)
    }
    if (options.maxTokens !== undefined && !(Number.isInteger(options.maxTokens) && options.maxTokens >= 0)) {
      throw new InvalidArgumentError(`maxTokens must be a non-negative integer, got ${options.maxTokens}`)
    }
    this.promptIds = ids
  }

  get promptTokens (): number {
    return this.promptIds.length
  }

  async * [Symbol.asyncIterator] (): AsyncIterator<GeneratedToken> {
    const { pipeline: { config, tokenizer, ends, executors }, options, promptIds } = this
    const { signal } = options
    const budget = config.contextLength - promptIds.length
    const maxTokens = Math.min(options.maxTokens ?? budget, budget)
    const sampler = new Sampler(options)
    const decoder = new StreamDecoder(tokenizer, promptIds[promptIds.length - 1])
    const stops = new StopMatcher(options.stop ?? [])
    const history = [...promptIds]
    const endTokens = new Set([...tokenizer.eos, ...(options.stopTokens ?? [])])
    const sessionId = randomId()
    const maxLength = promptIds.length + maxTokens
    if (maxTokens === 0) { this.finishReason = 'length'; return }

    const sessions: SpanSession[] = []
    try {
      for (const e of executors) sessions.push(await e.open(sessionId, { maxLength, signal }))
      let input: readonly number[] = promptIds
      let pos = 0
      for (;;) {
        throwIfAborted(signal)
        let hidden = ends.embed(input) // (n, dim)
        const positions = Array.from(input, (_, i) => pos + i)
        for (const s of sessions) hidden = await s.forward(hidden, positions, { signal })
        pos += input.length
        const logits = ends.logits(hidden.subarray(hidden.length - config.dim)) // (vocabSize)
        const id = sampler.sample(logits, history)
        if (endTokens.has(id)) {
          this.finishReason = 'stop'
          const rest = stops.push(decoder.flush()) + stops.flush()
          if (rest.length > 0) { this.text += rest; yield { id, text: rest } }
          break
        }
        history.push(id)
        this.completionTokens++
        let text = stops.push(decoder.push(id))
        if (stops.stopped) this.finishReason = 'stop'
        else if (this.completionTokens >= maxTokens) {
          this.finishReason = 'length'
          text += stops.push(decoder.flush()) + stops.flush()
        }
        this.text += text
        yield { id, text }
        if (this.finishReason !== undefined) break
        input = [id]
      }
    } finally {
      await Promise.allSettled(sessions.map(async s => await s.close()))
      log('session %s done: %d prompt + %d tokens, %s', sessionId, promptIds.length, this.completionTokens, this.finishReason ?? 'aborted')
    }
  }
}

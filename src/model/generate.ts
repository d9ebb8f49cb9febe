/**
 * The generation loop: embed → every span → head → sample, token by token. It only sees
 * SpanExecutors, so a local model, in-process spans and a swarm route all run through it. Each
 * step: penalties on the logits, then the constraint (if any) masks them and picks with the
 * sampler, then the log-probabilities of what was drawn from (if asked).
 */
import { ContextOverflowError, InvalidArgumentError, throwIfAborted } from '../util/errors.ts'
import { randomId } from '../util/bytes.ts'
import { logger } from '../util/log.ts'
import type { Grammar } from './constrain/index.ts'
import { MAX_TOP_LOGPROBS, type TokenLogprob, tokenLogprob } from './logprobs.ts'
import { type Pipeline as PrefillPipeline, PrefillShare, type Started, closeAll, forwardTokens, prefill } from './prefill.ts'
import { Sampler, type SamplerOptions } from './sampler.ts'
import { DraftController, NgramDrafter, type SpeculateOptions, type SpeculationReport, Speculator, checkK } from './speculate/index.ts'
import type { VerificationReport } from './span.ts'
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
  /** constrained decoding: the output is always a prefix of a value this grammar accepts, and a whole one if it ends in time */
  grammar?: Grammar
  /** report each token's log-probability and this many most likely alternatives (0 to 20) */
  logprobs?: number
  /** generations of the same prompt that compute it once (n > 1) */
  share?: PrefillShare
  /**
   * speculative decoding: draft tokens (n-gram lookup or a draft model) and check them all in one
   * step; the output is the same as without (greedy: token for token). Off unless given (false:
   * off even where the model has a default).
   */
  speculate?: SpeculateOptions | false
  signal?: AbortSignal
}

export interface GeneratedToken {
  readonly id: number
  /** text this token completed (may be empty while a character or a possible stop string is pending) */
  readonly text: string
  /** with `logprobs` */
  readonly logprob?: TokenLogprob
}
// The end-of-sequence token is yielded only when it releases text held back until then.

export type FinishReason = 'stop' | 'length'

/** What generate() needs: a tokenizer, the ends, and spans that tile [0, nLayers). */
export interface Pipeline extends PrefillPipeline {
  readonly tokenizer: Tokenizer
}

/** An async iterable of tokens; after iteration, `finishReason` and the counts are set. */
export class Generation implements AsyncIterable<GeneratedToken> {
  readonly promptIds: readonly number[]
  finishReason: FinishReason | undefined
  completionTokens = 0
  text = ''
  /** what verification did for this generation's sessions (swarm executors that verify) */
  verification: VerificationReport | undefined
  /** what speculative decoding did (with `speculate`) */
  speculation: SpeculationReport | undefined

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
    if (options.logprobs !== undefined && !(Number.isInteger(options.logprobs) && options.logprobs >= 0 && options.logprobs <= MAX_TOP_LOGPROBS)) {
      throw new InvalidArgumentError(`logprobs must be an integer from 0 to ${MAX_TOP_LOGPROBS}, got ${options.logprobs}`)
    }
    if (options.speculate !== undefined && options.speculate !== false) {
      if (options.speculate.k !== undefined) checkK(options.speculate.k)
      if (options.speculate.maxK !== undefined) checkK(options.speculate.maxK)
    }
    this.promptIds = ids
    void new Sampler(options) // checks the sampling options now rather than at the first token
  }

  get promptTokens (): number {
    return this.promptIds.length
  }

  async * [Symbol.asyncIterator] (): AsyncIterator<GeneratedToken> {
    const { pipeline, options, promptIds } = this
    const { config, tokenizer, ends } = pipeline
    const { signal } = options
    const budget = config.contextLength - promptIds.length
    const maxTokens = Math.min(options.maxTokens ?? budget, budget)
    const sampler = new Sampler(options)
    const decoder = new StreamDecoder(tokenizer, promptIds[promptIds.length - 1])
    const stops = new StopMatcher(options.stop ?? [])
    const history = [...promptIds]
    const endTokens = new Set([...tokenizer.eos, ...(options.stopTokens ?? [])])
    const constraint = options.grammar?.constraint(tokenizer, endTokens)
    const maxLength = promptIds.length + maxTokens
    if (maxTokens === 0) { this.finishReason = 'length'; return }

    let started: Started | undefined
    let speculator: Speculator | undefined
    try {
      started = options.share !== undefined
        ? await options.share.take(pipeline, promptIds, maxLength, signal)
        : await prefill(pipeline, promptIds, maxLength, signal)
      const { sessions } = started
      if (options.speculate !== undefined && options.speculate !== false) {
        const spec = options.speculate
        const drafter = await (spec.drafter ?? new NgramDrafter()).open({ maxLength, sampling: options, signal })
        speculator = new Speculator(pipeline, sessions, drafter, new DraftController(spec.k ?? 'auto', spec.maxK), promptIds.length, maxLength)
        this.speculation = speculator.report
      }
      let logits = started.logits
      for (let pos = promptIds.length; ; pos++) {
        sampler.penalize(logits, history)
        const pick = speculator === undefined ? (l: Float32Array): number => sampler.pick(l) : (l: Float32Array): number => speculator!.pickWith(sampler, l)
        const id = constraint === undefined ? pick(logits) : constraint.select(logits, maxTokens - this.completionTokens, pick)
        const logprob = options.logprobs !== undefined ? tokenLogprob(logits, sampler.temperature, id, options.logprobs) : undefined
        if (endTokens.has(id)) {
          this.finishReason = 'stop'
          const rest = stops.push(decoder.flush()) + stops.flush()
          if (rest.length > 0) { this.text += rest; yield { id, text: rest } }
          break
        }
        constraint?.accept(id)
        sampler.accept(id)
        history.push(id)
        this.completionTokens++
        let text = stops.push(decoder.push(id))
        if (stops.stopped || constraint?.done === true) this.finishReason = 'stop'
        else if (this.completionTokens >= maxTokens) this.finishReason = 'length'
        if (this.finishReason !== undefined && !stops.stopped) text += stops.push(decoder.flush()) + stops.flush()
        this.text += text
        yield logprob === undefined ? { id, text } : { id, text, logprob }
        if (this.finishReason !== undefined) break
        throwIfAborted(signal)
        if (speculator !== undefined) {
          logits = await speculator.next(id, pos, history, maxTokens - this.completionTokens, signal)
          continue
        }
        const hidden = await forwardTokens(pipeline, sessions, [id], pos, signal)
        logits = await ends.logits(hidden) // (vocabSize)
      }
    } finally {
      await speculator?.close().catch(() => {})
      if (started !== undefined) {
        await closeAll(started.sessions)
        for (const r of started.sessions.map(s => s.verification?.())) {
          if (r !== undefined) this.verification = { audits: (this.verification?.audits ?? 0) + r.audits, failures: (this.verification?.failures ?? 0) + r.failures }
        }
      }
      log('done: %d prompt + %d tokens, %s%s', promptIds.length, this.completionTokens, this.finishReason ?? 'aborted',
        this.speculation === undefined ? '' : `; ${this.speculation.accepted} of ${this.speculation.drafted} drafts kept in ${this.speculation.steps} steps`)
    }
  }
}

export { PrefillShare }

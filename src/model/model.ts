/**
 * A Model composes the ends (embedding, final norm, head) with span executors that tile
 * [0, nLayers). Loaded from a file it runs in-process, as one span or as several separate spans
 * with hidden states copied between them (the same path the swarm takes).
 */
import { type Backend, createBackend, type BackendName } from '../kernels/index.ts'
import { BadModelFileError, InvalidArgumentError } from '../util/errors.ts'
import type { ModelConfig } from './config.ts'
import { ModelEnds } from './ends.ts'
import { Generation, type GenerateOptions, type Pipeline } from './generate.ts'
import { openModel } from './open.ts'
import type { ModelSource } from './source.ts'
import { LocalSpanExecutor, type SpanExecutor } from './span.ts'
import type { SpeculateOptions } from './speculate/index.ts'
import { createTokenizer, type Tokenizer } from './tokenizer/index.ts'
import { OffloadedTokenizer } from './tokenizer/offload.ts'
import type { EncodeOptions } from './tokenizer/types.ts'
import { loadWeights } from './weights.ts'

export type Span = readonly [start: number, end: number]

export interface LoadModelOptions {
  /** tokenizer file overriding the model's own (llama2.c tokenizer.bin or tokenizer.json) */
  tokenizer?: string
  /** a backend instance, or its name; default 'auto' */
  backend?: Backend | BackendName | 'auto'
  threads?: number
  /** run the layers as these separate spans, e.g. [[0, 2], [2, 5]]; default one span of all layers */
  spans?: readonly Span[]
  /** KV-cache budget per span executor */
  cacheBudgetBytes?: number
  signal?: AbortSignal
  onProgress?: (bytesDone: number, bytesTotal: number) => void
}

/** Spans must be consecutive, non-empty and cover [0, nLayers) exactly. */
export function checkSpans (spans: readonly Span[], nLayers: number): void {
  let next = 0
  for (const [start, end] of spans) {
    if (start !== next || end <= start) break
    next = end
  }
  if (next !== nLayers || spans.length === 0 || spans.some(([s, e]) => e <= s)) {
    throw new InvalidArgumentError(`spans ${spans.map(([s, e]) => `${s}:${e}`).join(',')} must be consecutive and cover layers 0:${nLayers}`)
  }
}

export class Model implements Pipeline {
  readonly name: string
  readonly config: ModelConfig
  readonly chatTemplate: string | undefined
  /** speculative decoding for every generation that does not say otherwise (`speculate: false` in its options turns it off) */
  speculation: SpeculateOptions | undefined
  private readonly offload: OffloadedTokenizer

  constructor (
    readonly source: ModelSource,
    readonly modelId: string,
    readonly tokenizer: Tokenizer,
    readonly ends: ModelEnds,
    readonly executors: readonly SpanExecutor[],
    private readonly cleanup: () => Promise<void> = async () => {}
  ) {
    this.name = source.name
    this.config = source.config
    this.chatTemplate = source.chatTemplate
    this.offload = new OffloadedTokenizer(tokenizer, source.tokenizer)
    checkSpans(executors.map(e => [e.start, e.end] as const), source.config.nLayers)
  }

  static async load (path: string, options: LoadModelOptions = {}): Promise<Model> {
    const source = await openModel(path, options)
    if (source.tokenizer === undefined) throw new BadModelFileError(`${path} has no tokenizer; pass one with --tokenizer`)
    return await Model.fromSource(source, options)
  }

  /** A model whose every layer runs in-process, from a source already open (a file, or fetched weights). */
  static async fromSource (source: ModelSource, options: LoadModelOptions = {}): Promise<Model> {
    if (source.tokenizer === undefined) throw new BadModelFileError(`${source.path} has no tokenizer`)
    const tokenizer = createTokenizer(source.tokenizer)
    const spans = options.spans ?? [[0, source.config.nLayers]]
    checkSpans(spans, source.config.nLayers)
    const backend = typeof options.backend === 'object' ? options.backend : await createBackend(options.backend ?? 'auto', { threads: options.threads })
    const weights = await loadWeights(source, backend, { ends: true, hash: true, signal: options.signal, onProgress: options.onProgress })
    const modelId = weights.modelId!
    const ends = new ModelEnds(source.config, backend, weights.ends!)
    const executors = spans.map(([start, end]) => new LocalSpanExecutor(source.config, backend,
      { layers: weights.layers.slice(start, end), ends: undefined, modelId },
      { start, end, modelId, cacheBudgetBytes: options.cacheBudgetBytes }))
    return new Model(source, modelId, tokenizer, ends, executors, async () => {
      await Promise.all(executors.map(async e => await e.close()))
      ends.dispose()
      for (const t of new Set(Object.values(weights.ends!))) backend.free(t) // output is the embedding when tied
      if (typeof options.backend !== 'object') backend.dispose()
    })
  }

  /** Generates from a text prompt or token ids; iterate the result for tokens. */
  generate (prompt: string | readonly number[], options: GenerateOptions = {}): Generation {
    return new Generation(this, prompt, options.speculate === undefined && this.speculation !== undefined ? { ...options, speculate: this.speculation } : options)
  }

  /** Tokenizes `text`; a long one on a worker thread, so the event loop is never held for long. */
  async encode (text: string, options: EncodeOptions & { signal?: AbortSignal } = {}): Promise<number[]> {
    return await this.offload.encode(text, options)
  }

  async close (): Promise<void> {
    await this.offload.close()
    await this.cleanup()
  }
}

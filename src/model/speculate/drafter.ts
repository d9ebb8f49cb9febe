/**
 * Drafters propose tokens that may follow a sequence; speculative generation (generate.ts) checks
 * them all in one step of the target model. A drafter is opened per generation (it may keep state,
 * such as its own KV cache) and proposes from the whole history each round, so it never has to be
 * told which of its tokens were taken.
 */
import type { Distribution, SamplerOptions } from '../sampler.ts'

export interface Draft {
  readonly tokens: readonly number[]
  /**
   * The distribution each token was drawn from (speculative sampling's q). Absent: every token was
   * chosen deterministically (a point mass), as n-gram lookups and greedy draft models do.
   */
  readonly dists?: readonly Distribution[]
}

export interface Drafter {
  /** Up to `k` tokens that may follow `history` (the prompt and every token generated so far). */
  draft (history: readonly number[], k: number, options?: { signal?: AbortSignal }): Promise<Draft>
  /** The generation is over: frees what the drafter holds. */
  close? (): Promise<void>
}

export interface DrafterContext {
  /** the most tokens the generation's sequence will hold */
  readonly maxLength: number
  /** the target's sampling settings (a draft model drafts with the same ones) */
  readonly sampling: SamplerOptions
  readonly signal?: AbortSignal
}

/** Makes one drafter per generation. */
export interface DraftSource {
  readonly name: string
  open (context: DrafterContext): Promise<Drafter>
}

export interface SpeculateOptions {
  /** draft length: a fixed k (1 to 8), or 'auto' (adapts to the acceptance rate and the step time); default 'auto' */
  readonly k?: number | 'auto'
  /**
   * with 'auto': the longest draft (1 to 8); default 2, the longest whose steps every backend
   * computes exactly as plain decoding (see EXACT_DRAFT)
   */
  readonly maxK?: number
  /** where drafts come from; default n-gram lookup in the sequence itself */
  readonly drafter?: DraftSource
}

/** What speculation did in one generation. */
export interface SpeculationReport {
  /** target steps after the prompt */
  steps: number
  /** draft tokens sent for checking, and how many were kept */
  drafted: number
  accepted: number
}

/**
 * Prompt lookup (n-gram) drafting: no model at all. The last few tokens of the sequence are looked
 * for earlier in it (longest n-gram first, most recent occurrence first), and the tokens that
 * followed that occurrence are the draft. Text that repeats itself (code, quotes, lists, stories
 * with refrains) is drafted well; a draft that finds nothing costs nothing (a plain decode step).
 */
import { InvalidArgumentError } from '../../util/errors.ts'
import type { Draft, Drafter, DraftSource } from './drafter.ts'

export interface NgramOptions {
  /** longest n-gram looked up; default 4 */
  maxN?: number
  /** shortest; default 1 */
  minN?: number
  /** how far back to look (tokens); default 4096 */
  window?: number
}

/** The tokens after the most recent earlier occurrence of the longest suffix of `history` of minN..maxN tokens. */
export function lookupDraft (history: readonly number[], k: number, options: NgramOptions = {}): number[] {
  const maxN = options.maxN ?? 4
  const minN = options.minN ?? 1
  const len = history.length
  const lo = Math.max(0, len - (options.window ?? 4096))
  for (let n = Math.min(maxN, len - 1); n >= minN; n--) {
    // an occurrence ending at `end` (exclusive), before the suffix itself
    for (let end = len - 1; end - n >= lo; end--) {
      let match = true
      for (let j = 1; j <= n; j++) {
        if (history[end - j] !== history[len - j]) { match = false; break }
      }
      if (!match) continue
      const out: number[] = []
      for (let i = end; i < len && out.length < k; i++) out.push(history[i]!)
      if (out.length > 0) return out
    }
  }
  return []
}

export class NgramDrafter implements Drafter, DraftSource {
  readonly name = 'ngram'

  constructor (private readonly options: NgramOptions = {}) {
    const { maxN = 4, minN = 1 } = options
    if (!Number.isInteger(minN) || minN < 1 || !Number.isInteger(maxN) || maxN < minN) {
      throw new InvalidArgumentError(`n-gram sizes must be integers with 1 <= minN <= maxN, got ${minN} and ${maxN}`)
    }
  }

  async open (): Promise<Drafter> {
    return this // stateless
  }

  async draft (history: readonly number[], k: number): Promise<Draft> {
    return { tokens: k > 0 ? lookupDraft(history, k, this.options) : [] }
  }
}

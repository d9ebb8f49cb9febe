/** --speculate and --draft, shared by generate, chat and api. */
import { EXACT_DRAFT, MAX_DRAFT, Model, ModelDraftSource, type SpeculateOptions } from '../model/index.ts'
import type { BackendName } from '../kernels/index.ts'
import { UsageError } from './command.ts'

export const SPECULATE_FLAGS = {
  speculate: { type: 'string' },
  draft: { type: 'string' }
} as const

/** Help lines for the two flags, indented to `width` columns for the descriptions. */
export function speculateUsage (width: number): string {
  const line = (flag: string, text: string[]): string => text.map((t, i) => (i === 0 ? `      ${flag}`.padEnd(width) : ' '.repeat(width)) + t).join('\n')
  return [
    line('--speculate <mode>', ['speculative decoding: off; auto (the default: drafts of up',
      `to ${EXACT_DRAFT} tokens as acceptance and round trip say, greedy output`,
      'bit for bit that of off); auto:<n> (up to n, at most 8:',
      'fewer round trips, a greedy near-tie may break the other way);',
      'or a fixed draft length from 1 to 8']),
    line('--draft <model>', ['a small local model of the same vocabulary that drafts',
      '(default: n-gram lookup in the text so far, no model)'])
  ].join('\n') + '\n'
}

/** off, auto, auto:<n> or <k> (what the config accepts too). */
export const SPECULATE_RE = /^(off|auto|auto:[1-8]|[1-8])$/

/** The parsed mode: undefined when off. */
export function speculateMode (raw: string | undefined, usage: string): { k: number | 'auto', maxK?: number } | undefined {
  const mode = raw ?? 'auto'
  if (!SPECULATE_RE.test(mode)) throw new UsageError(`--speculate must be off, auto, auto:<n> or a whole number from 1 to ${MAX_DRAFT}; got "${mode}"`, usage)
  if (mode === 'off') return undefined
  if (mode === 'auto') return { k: 'auto' }
  if (mode.startsWith('auto:')) return { k: 'auto', maxK: Number(mode.slice(5)) }
  return { k: Number(mode) }
}

/**
 * Sets `model`'s speculative decoding from the flags, loading the draft model if one is named;
 * returns what closes it.
 */
export async function applySpeculation (model: Model, flags: { speculate?: string, draft?: string }, usage: string,
  load: { backend?: BackendName | 'auto', threads?: number, signal?: AbortSignal }): Promise<() => Promise<void>> {
  const mode = speculateMode(flags.speculate, usage)
  if (mode === undefined) {
    if (flags.draft !== undefined) throw new UsageError('--draft needs speculative decoding: drop --speculate off', usage)
    model.speculation = undefined
    return async () => {}
  }
  if (flags.draft === undefined) {
    model.speculation = mode
    return async () => {}
  }
  const draft = await Model.load(flags.draft, load)
  try {
    ModelDraftSource.check(draft, model)
  } catch (err) {
    await draft.close()
    throw err
  }
  const speculation: SpeculateOptions = { ...mode, drafter: new ModelDraftSource(draft, draft.name) }
  model.speculation = speculation
  return async () => { await draft.close() }
}

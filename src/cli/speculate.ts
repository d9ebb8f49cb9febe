/** --speculate and --draft, shared by generate, chat and api. */
import { MAX_DRAFT, Model, ModelDraftSource, type SpeculateOptions } from '../model/index.ts'
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
    line('--speculate <mode>', ['speculative decoding: off, auto (the default; the draft',
      'length follows acceptance and round trip) or a draft length',
      `1 to ${MAX_DRAFT}; output is the same as with off`]),
    line('--draft <model>', ['a small local model of the same vocabulary that drafts',
      '(default: n-gram lookup in the text so far, no model)'])
  ].join('\n') + '\n'
}

/** The parsed mode: undefined when off. */
export function speculateMode (raw: string | undefined, usage: string): number | 'auto' | undefined {
  const mode = raw ?? 'auto'
  if (mode === 'off') return undefined
  if (mode === 'auto') return 'auto'
  const k = Number(mode)
  if (!/^\d+$/.test(mode) || k < 1 || k > MAX_DRAFT) throw new UsageError(`--speculate must be off, auto or a whole number from 1 to ${MAX_DRAFT}; got "${mode}"`, usage)
  return k
}

/**
 * Sets `model`'s speculative decoding from the flags, loading the draft model if one is named;
 * returns what closes it.
 */
export async function applySpeculation (model: Model, flags: { speculate?: string, draft?: string }, usage: string,
  load: { backend?: BackendName | 'auto', threads?: number, signal?: AbortSignal }): Promise<() => Promise<void>> {
  const k = speculateMode(flags.speculate, usage)
  if (k === undefined) {
    if (flags.draft !== undefined) throw new UsageError('--draft needs speculative decoding: drop --speculate off', usage)
    model.speculation = undefined
    return async () => {}
  }
  if (flags.draft === undefined) {
    model.speculation = { k }
    return async () => {}
  }
  const draft = await Model.load(flags.draft, load)
  try {
    ModelDraftSource.check(draft, model)
  } catch (err) {
    await draft.close()
    throw err
  }
  const speculation: SpeculateOptions = { k, drafter: new ModelDraftSource(draft, draft.name) }
  model.speculation = speculation
  return async () => { await draft.close() }
}

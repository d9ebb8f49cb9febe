/** What the benchmarks share: a decode rate and the summaries of repeated rounds. */
import type { Model } from '../src/model/index.ts'

/** Greedy decode tokens per second from the first token to the last (prefill excluded), and the ids. */
export async function decodeRate (model: Model, prompt: string, maxTokens: number): Promise<{ tokS: number, ids: number[] }> {
  const ids: number[] = []
  let first = 0
  for await (const t of model.generate(prompt, { temperature: 0, maxTokens })) {
    ids.push(t.id)
    if (first === 0) first = performance.now()
  }
  return { tokS: (ids.length - 1) / ((performance.now() - first) / 1000), ids }
}

export const median = (xs: readonly number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!

/** Other work on a shared machine only ever slows a round down, so the best round is the measure. */
export const best = (xs: readonly number[]): number => Math.max(...xs)

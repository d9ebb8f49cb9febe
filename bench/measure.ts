/** What the benchmarks share: a decode rate and the summaries of repeated rounds. */
import type { Model, SpeculationReport } from '../src/model/index.ts'

/**
 * Greedy decode tokens per second from the first token to the last (prefill excluded), the ids,
 * and what speculative decoding did (where the model speculates).
 */
export async function decodeRate (model: Model, prompt: string, maxTokens: number): Promise<{ tokS: number, ids: number[], speculation?: SpeculationReport }> {
  const ids: number[] = []
  let first = 0
  const gen = model.generate(prompt, { temperature: 0, maxTokens })
  for await (const t of gen) {
    ids.push(t.id)
    if (first === 0) first = performance.now()
  }
  return { tokS: (ids.length - 1) / ((performance.now() - first) / 1000), ids, speculation: gen.speculation }
}

export const median = (xs: readonly number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!

/** Other work on a shared machine only ever slows a round down, so the best round is the measure. */
export const best = (xs: readonly number[]): number => Math.max(...xs)

type Variant = 'local' | 'push' | 'relay'

/**
 * Decode rates of a local model and its swarm runs (push and relay): one warm-up each (JIT,
 * connections), then interleaved rounds so load from elsewhere on the machine hits every variant
 * alike; `same` says whether each swarm mode gave the local run's tokens every time.
 */
export async function swarmRounds (models: Record<Variant, Model>, rounds: number, prompt: string, tokens: number):
Promise<{ runs: Record<Variant, number[]>, same: Record<'push' | 'relay', boolean> }> {
  const { ids: expected } = await decodeRate(models.local, prompt, tokens)
  for (const m of [models.push, models.relay]) await decodeRate(m, prompt, tokens)
  const runs: Record<Variant, number[]> = { local: [], push: [], relay: [] }
  const same = { push: true, relay: true }
  for (let r = 0; r < rounds; r++) {
    for (const name of ['local', 'push', 'relay'] as const) {
      const { tokS, ids } = await decodeRate(models[name], prompt, tokens)
      runs[name].push(tokS)
      if (name !== 'local') same[name] &&= JSON.stringify(ids) === JSON.stringify(expected)
      process.stderr.write(`round ${r + 1} ${name}: ${tokS.toFixed(3)} tok/s\n`)
    }
  }
  return { runs, same }
}

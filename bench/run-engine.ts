/**
 * One measured run of one engine on one model, in its own process (bench/decode.ts starts it):
 *   node --import tsx bench/run-engine.ts <gridllm|gridllm-relaxed|gridllm-baseline|llama.cpp> <model.gguf> <threads> <promptTokens> <genTokens>
 * Feeds the same prompt ids to either engine, then decodes greedily; prints one JSON line
 * {prefill_tok_s, decode_tok_s, cpu_prefill_tok_s, cpu_decode_tok_s, tokens}. Prefill = prompt
 * tokens / time to the first generated token; the cpu_ rates divide by the process's CPU time
 * instead (on a loaded machine, what the engine itself spent; meaningful with 1 thread).
 */
import { pathToFileURL } from 'node:url'
import { join } from 'node:path'
import { Model } from '../src/model/index.ts'
import { createBackend } from '../src/kernels/index.ts'

export const CACHE = new URL('./.cache/', import.meta.url)

/** The prompt both engines get: fixed ids inside every vocabulary used here. */
export function promptIds (n: number): number[] {
  return Array.from({ length: n }, (_, i) => 300 + ((i * 37) % 1000))
}

interface Result { prefill_tok_s: number, decode_tok_s: number, cpu_prefill_tok_s: number, cpu_decode_tok_s: number, tokens: number[] }

/** CPU seconds of this process so far (every thread). */
const cpu = (): number => { const u = process.cpuUsage(); return (u.user + u.system) / 1e6 }

function rates (prompt: number, gen: number, t: [number, number, number], c: [number, number, number], tokens: number[]): Result {
  return {
    prefill_tok_s: prompt / ((t[1] - t[0]) / 1000), decode_tok_s: (gen - 1) / ((t[2] - t[1]) / 1000),
    cpu_prefill_tok_s: prompt / (c[1] - c[0]), cpu_decode_tok_s: (gen - 1) / (c[2] - c[1]), tokens
  }
}

async function runGridllm (path: string, threads: number, prompt: number[], gen: number, kernels: string): Promise<Result> {
  const backend = await createBackend('wasm', { threads, relaxedSimd: kernels === 'relaxed', relaxedDot: kernels !== 'baseline' })
  const model = await Model.load(path, { backend })
  try {
    const { ends, executors, config } = model
    const sessions = await Promise.all(executors.map(async e => await e.open('bench', { maxLength: prompt.length + gen })))
    const tokens: number[] = []
    let input = prompt
    let pos = 0
    const t0 = performance.now()
    const c0 = cpu()
    let t1 = 0
    let c1 = 0
    while (tokens.length < gen) {
      // the generate() loop without its sampler and detokenizer: embed → spans → head → argmax
      let hidden = await ends.embed(input)
      const positions = input.map((_, i) => pos + i)
      for (const s of sessions) hidden = await s.forward(hidden, positions)
      pos += input.length
      const logits = await ends.logits(hidden.subarray(hidden.length - config.dim))
      let best = 0
      for (let i = 1; i < logits.length; i++) if (logits[i]! > logits[best]!) best = i
      tokens.push(best)
      if (tokens.length === 1) { t1 = performance.now(); c1 = cpu() }
      input = [best]
    }
    const t2 = performance.now()
    const c2 = cpu()
    for (const s of sessions) await s.close()
    return rates(prompt.length, gen, [t0, t1, t2], [c0, c1, c2], tokens)
  } finally {
    await model.close()
    backend.dispose()
  }
}

/** The slice of node-llama-cpp's API used here (it is not a dependency, so no types). */
interface Llama {
  loadModel (o: { modelPath: string }): Promise<{
    createContext (o: object): Promise<{ getSequence (): Sequence, dispose (): Promise<void> }>
    dispose (): Promise<void>
  }>
  dispose (): Promise<void>
}
interface Sequence { evaluate (tokens: number[], o: { temperature: number }): AsyncGenerator<number> }

async function runLlamaCpp (path: string, threads: number, prompt: number[], gen: number): Promise<Result> {
  const entry = pathToFileURL(join(CACHE.pathname, 'node_modules/node-llama-cpp/dist/index.js')).href
  const { getLlama } = await import(entry) as { getLlama: (o: object) => Promise<Llama> }
  const llama = await getLlama({ gpu: false, build: 'never', logLevel: 'error' })
  const model = await llama.loadModel({ modelPath: path })
  const context = await model.createContext({ contextSize: prompt.length + gen + 8, threads: { ideal: threads, min: threads }, batchSize: prompt.length })
  const seq = context.getSequence()
  const tokens: number[] = []
  const t0 = performance.now()
  const c0 = cpu()
  let t1 = 0
  let c1 = 0
  for await (const token of seq.evaluate(prompt, { temperature: 0 })) {
    tokens.push(token)
    if (tokens.length === 1) { t1 = performance.now(); c1 = cpu() }
    if (tokens.length >= gen) break
  }
  const t2 = performance.now()
  const c2 = cpu()
  await context.dispose()
  await model.dispose()
  await llama.dispose()
  return rates(prompt.length, gen, [t0, t1, t2], [c0, c1, c2], tokens)
}

if (import.meta.url === pathToFileURL(process.argv[1]!).href) {
  const [engine, path, threads, promptLen, gen] = process.argv.slice(2)
  const args = [path!, Number(threads), promptIds(Number(promptLen)), Number(gen)] as const
  const r = engine === 'llama.cpp' ? await runLlamaCpp(...args) : await runGridllm(...args, engine!.replace(/^gridllm-?/, ''))
  process.stdout.write(JSON.stringify(r) + '\n')
}

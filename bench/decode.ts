/**
 * Decode and prefill speed of gridllm against llama.cpp (through node-llama-cpp) on the same
 * random-weight GGUF files: the 15M and 135M shapes (and 120M-k, whose rows all fit K-quants'
 * 256-blocks), F32 and quantized as `gridllm quantize` writes them (q4_k etc. on the 135M shape
 * take llama.cpp's fallbacks for rows of 576), runs alternating between the engines, each in a
 * fresh process. One JSON line per case:
 *   {"bench":"decode","model":"135M-q8_0","threads":1,"tok_s":…,"llama_cpp_tok_s":…,"ratio":…,
 *    "weights_mb":…,"gb_s":…,"llama_cpp_gb_s":…,"machine_gb_s":…}
 *   {"bench":"prefill",…}  (a 128-token prompt; tok/s = prompt tokens / time to the first token)
 * gb_s is the weight bytes a decode step reads (every matrix once) times tok/s; machine_gb_s the
 * read bandwidth one thread of WebAssembly reaches (bench/bandwidth.ts), measured in the same run.
 * With 1 thread, cpu_ratio compares the engines by the CPU time each run spent (robust to load
 * from other work on the machine, which wall-clock ratios are not).
 * Options: --shapes 15M,135M,120M-k --types f32,q8_0,q4_0,q4_k,q5_k,q6_k,q4_k_m --threads 1,2
 *   --reps 3 --gen 100 --prompt 128
 *   --relaxed  also runs gridllm's relaxed-SIMD kernels (lines with "kernels":"relaxed")
 *   --baseline also runs gridllm without relaxed-SIMD dot products (lines with "kernels":"baseline")
 * node-llama-cpp (~700 MB) is not a dependency: it is installed on first use into bench/.cache.
 */
import { spawnSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { QUANT_TYPES, type QuantType } from '../src/model/gguf/recipe.ts'
import { readGguf } from '../src/model/gguf/reader.ts'
import { type ModelShape, SHAPE_135M, SHAPE_15M } from '../src/model/synthetic.ts'
import { readBandwidthGBs } from './bandwidth.ts'
import { ensureLlamaCpp } from './llama-cpp.ts'
import { median } from './measure.ts'
import { BENCH_MODELS, ensureBenchModel } from './models.ts'

const root = fileURLToPath(new URL('..', import.meta.url))
/** 120M-k: the 135M shape with dim 512 (8 heads of 64, 4 kv heads), every row a multiple of 256 */
const SHAPE_120M_K: ModelShape = { dim: 512, hiddenDim: 1536, nLayers: 30, nHeads: 8, nKvHeads: 4, vocabSize: 49152, contextLength: 2048, tied: true }
const shapes: Record<string, ModelShape> = { '15M': SHAPE_15M, '135M': SHAPE_135M, '120M-k': SHAPE_120M_K }

const { values: opts } = parseArgs({
  options: {
    shapes: { type: 'string', default: '15M,135M,120M-k' },
    types: { type: 'string', default: 'f32,q8_0,q4_0,q4_k,q5_k,q6_k,q4_k_m' },
    threads: { type: 'string', default: '1,2' },
    reps: { type: 'string', default: '3' },
    gen: { type: 'string', default: '100' },
    prompt: { type: 'string', default: '128' },
    relaxed: { type: 'boolean', default: false },
    baseline: { type: 'boolean', default: false }
  }
})
const log = (msg: string): void => { process.stderr.write(`[bench] ${msg}\n`) }

/** The shape's F32 model, or `gridllm quantize`'s file of it. */
async function ensureModel (shape: string, type: 'f32' | QuantType): Promise<string> {
  return BENCH_MODELS + await ensureBenchModel(shape, shapes[shape]!, type, log)
}

/** Bytes of weights a decode step reads: every matrix once (the embedding too when it is the head). */
function weightBytes (path: string): number {
  const g = readGguf(path)
  const tied = !g.tensors.some(t => t.name === 'output.weight')
  let total = 0
  g.tensors.forEach((t, i) => {
    if (t.ne.length < 2 || (t.name === 'token_embd.weight' && !tied)) return
    total += (g.tensors[i + 1]?.offset ?? g.fileSize) - t.offset // up to the next tensor: its bytes and at most 31 of padding
  })
  return total
}

interface Run { prefill_tok_s: number, decode_tok_s: number, cpu_prefill_tok_s: number, cpu_decode_tok_s: number, tokens: number[] }

function runOnce (engine: string, model: string, threads: number, prompt: number, gen: number): Run {
  const r = spawnSync(process.execPath, ['--import', './bin/polyfill.mjs', '--import', 'tsx', 'bench/run-engine.ts', engine, model, String(threads), String(prompt), String(gen)],
    { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], maxBuffer: 1 << 24 })
  if (r.status !== 0) throw new Error(`${engine} on ${model} failed with status ${r.status}`)
  return JSON.parse(r.stdout.trim().split('\n').pop()!) as Run
}

const round = (x: number): number => Math.round(x * 100) / 100

ensureLlamaCpp()
for (const t of opts.types.split(',')) if (t !== 'f32' && !(QUANT_TYPES as readonly string[]).includes(t)) throw new Error(`unknown type ${t}`)
const reps = Number(opts.reps)
const gen = Number(opts.gen)
const prompt = Number(opts.prompt)
for (const shape of opts.shapes.split(',') as Array<keyof typeof shapes>) {
  for (const dtype of opts.types.split(',') as Array<'f32' | QuantType>) {
    const model = await ensureModel(shape, dtype)
    const bytes = weightBytes(model)
    for (const threads of opts.threads.split(',').map(Number)) {
      const ours = ['gridllm', ...(opts.relaxed ? ['gridllm-relaxed'] : []), ...(opts.baseline ? ['gridllm-baseline'] : [])]
      const engines = [...ours, 'llama.cpp']
      const runs: Record<string, Run[]> = Object.fromEntries(engines.map(e => [e, []]))
      for (let rep = 0; rep < reps; rep++) {
        for (const engine of rep % 2 === 0 ? engines : [...engines].reverse()) {
          const r = runOnce(engine, model, threads, prompt, gen)
          log(`${shape}-${dtype} ${threads}T ${engine}: prefill ${r.prefill_tok_s.toFixed(1)}, decode ${r.decode_tok_s.toFixed(1)} tok/s`)
          runs[engine]!.push(r)
        }
      }
      const machine = await readBandwidthGBs()
      const theirs = runs['llama.cpp']!
      for (const engine of ours) {
        const mine = runs[engine]!
        // how many greedy tokens the engines agree on before they first differ (a sanity check)
        const a = mine[0]!.tokens
        const b = theirs[0]!.tokens
        let agree = 0
        while (agree < a.length && a[agree] === b[agree]) agree++
        for (const bench of ['decode', 'prefill'] as const) {
          const key = bench === 'decode' ? 'decode_tok_s' : 'prefill_tok_s'
          const tokS = median(mine.map(r => r[key]))
          const llama = median(theirs.map(r => r[key]))
          // the same by CPU time (1 thread): what each engine spent itself, robust to a loaded machine
          const cpuKey = bench === 'decode' ? 'cpu_decode_tok_s' : 'cpu_prefill_tok_s'
          const cpuRatio = threads === 1 ? { cpu_ratio: round(median(mine.map(r => r[cpuKey])) / median(theirs.map(r => r[cpuKey]))) } : {}
          process.stdout.write(JSON.stringify({
            bench, model: `${shape}-${dtype}`, threads, kernels: engine === 'gridllm' ? 'default' : engine.slice('gridllm-'.length),
            tok_s: round(tokS), llama_cpp_tok_s: round(llama), ratio: round(tokS / llama), ...cpuRatio,
            ...(bench === 'decode'
              ? { tokens: gen, agree, weights_mb: round(bytes / 1e6), gb_s: round(bytes * tokS / 1e9), llama_cpp_gb_s: round(bytes * llama / 1e9), machine_gb_s: round(machine) }
              : { prompt_tokens: prompt })
          }) + '\n')
        }
      }
    }
  }
}

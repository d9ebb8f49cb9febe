/**
 * Decode and prefill speed of gridllm against llama.cpp (through node-llama-cpp) on the same
 * random-weight GGUF files: 15M and 135M shapes in F32, Q8_0 and Q4_0, 1 and 2 threads each,
 * runs alternating between the engines, each run in a fresh process. One JSON line per case:
 *   {"bench":"decode","model":"135M-q8_0","threads":1,"tok_s":…,"llama_cpp_tok_s":…,"ratio":…}
 *   {"bench":"prefill",…}  (a 128-token prompt; tok/s = prompt tokens / time to the first token)
 * Options: --shapes 15M,135M --types f32,q8_0,q4_0 --threads 1,2 --reps 3 --gen 100 --prompt 128
 *   --relaxed  also runs gridllm's relaxed-SIMD kernels (lines with "kernels":"relaxed")
 * node-llama-cpp (~700 MB) is not a dependency: it is installed on first use into bench/.cache.
 */
import { spawnSync } from 'node:child_process'
import { existsSync, mkdirSync, writeFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { type DType } from '../src/tensor/index.ts'
import { SHAPE_135M, SHAPE_15M, writeSyntheticGguf } from '../src/model/synthetic.ts'
import { median } from './measure.ts'

const LLAMA_PACKAGE = 'node-llama-cpp@3.22.1'
const cache = fileURLToPath(new URL('./.cache/', import.meta.url))
const root = fileURLToPath(new URL('..', import.meta.url))
const shapes = { '15M': SHAPE_15M, '135M': SHAPE_135M }

const { values: opts } = parseArgs({
  options: {
    shapes: { type: 'string', default: '15M,135M' },
    types: { type: 'string', default: 'f32,q8_0,q4_0' },
    threads: { type: 'string', default: '1,2' },
    reps: { type: 'string', default: '3' },
    gen: { type: 'string', default: '100' },
    prompt: { type: 'string', default: '128' },
    relaxed: { type: 'boolean', default: false }
  }
})
const log = (msg: string): void => { process.stderr.write(`[bench] ${msg}\n`) }

function ensureLlamaCpp (): void {
  if (existsSync(`${cache}node_modules/node-llama-cpp/package.json`)) return
  log(`installing ${LLAMA_PACKAGE} into ${cache} (about 700 MB, once; it is not a project dependency)`)
  mkdirSync(cache, { recursive: true })
  if (!existsSync(`${cache}package.json`)) writeFileSync(`${cache}package.json`, '{ "name": "gridllm-bench-cache", "private": true }\n')
  const r = spawnSync('npm', ['install', '--no-audit', '--no-fund', '--ignore-scripts', LLAMA_PACKAGE], { cwd: cache, stdio: ['ignore', 'inherit', 'inherit'] })
  if (r.status !== 0) throw new Error(`npm install ${LLAMA_PACKAGE} failed`)
}

function ensureModel (shape: keyof typeof shapes, dtype: DType): string {
  const path = `${cache}models/${shape}-${dtype}.gguf`
  if (!existsSync(path)) {
    log(`writing ${path}`)
    mkdirSync(`${cache}models`, { recursive: true })
    writeSyntheticGguf(path, shapes[shape], { dtype, seed: 1 })
  }
  return path
}

interface Run { prefill_tok_s: number, decode_tok_s: number, tokens: number[] }

function runOnce (engine: string, model: string, threads: number, prompt: number, gen: number): Run {
  const r = spawnSync(process.execPath, ['--import', './bin/polyfill.mjs', '--import', 'tsx', 'bench/run-engine.ts', engine, model, String(threads), String(prompt), String(gen)],
    { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], maxBuffer: 1 << 24 })
  if (r.status !== 0) throw new Error(`${engine} on ${model} failed with status ${r.status}`)
  return JSON.parse(r.stdout.trim().split('\n').pop()!) as Run
}

const round = (x: number): number => Math.round(x * 100) / 100

ensureLlamaCpp()
const reps = Number(opts.reps)
const gen = Number(opts.gen)
const prompt = Number(opts.prompt)
for (const shape of opts.shapes.split(',') as Array<keyof typeof shapes>) {
  for (const dtype of opts.types.split(',') as DType[]) {
    const model = ensureModel(shape, dtype)
    for (const threads of opts.threads.split(',').map(Number)) {
      const ours = opts.relaxed ? ['gridllm', 'gridllm-relaxed'] : ['gridllm']
      const engines = [...ours, 'llama.cpp']
      const runs: Record<string, Run[]> = Object.fromEntries(engines.map(e => [e, []]))
      for (let rep = 0; rep < reps; rep++) {
        for (const engine of rep % 2 === 0 ? engines : [...engines].reverse()) {
          const r = runOnce(engine, model, threads, prompt, gen)
          log(`${shape}-${dtype} ${threads}T ${engine}: prefill ${r.prefill_tok_s.toFixed(1)}, decode ${r.decode_tok_s.toFixed(1)} tok/s`)
          runs[engine]!.push(r)
        }
      }
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
          process.stdout.write(JSON.stringify({
            bench, model: `${shape}-${dtype}`, threads, kernels: engine === 'gridllm' ? 'baseline' : 'relaxed',
            tok_s: round(tokS), llama_cpp_tok_s: round(llama), ratio: round(tokS / llama),
            ...(bench === 'decode' ? { tokens: gen, agree } : { prompt_tokens: prompt })
          }) + '\n')
        }
      }
    }
  }
}

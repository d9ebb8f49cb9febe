/**
 * gridllm's wasm backend against wllama (llama.cpp compiled to WebAssembly, npm @wllama/wllama,
 * installed on first use into bench/.cache) in the same headless Chromium (Debian's chromium,
 * driven by playwright-core), same GGUF, 1 thread and all threads. Each run gets a fresh page;
 * runs alternate between the engines. One JSON line per case:
 *   {"bench":"wasm-peers","model":"135M-q4_0","threads":1,"kernels":"dot","decode_tok_s":…,
 *    "wllama_decode_tok_s":…,"decode_ratio":…,"prefill_tok_s":…,"wllama_prefill_tok_s":…,"prefill_ratio":…}
 * wllama's numbers are its own timings (llama-server's prompt_per_second / predicted_per_second);
 * gridllm's are measured as bench/run-engine.ts does (prefill: prompt tokens / time to the first token).
 * Options: --shapes 135M --types q8_0,q4_0,q4_k_m --threads 1,2 --reps 2 --gen 64 --prompt 128
 * Models are the files bench/decode.ts writes (gridllm quantize's), made here if missing.
 */
import { availableParallelism } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { createTokenizer, decode, openModel } from '../src/model/index.ts'
import type { QuantType } from '../src/model/gguf/recipe.ts'
import { SHAPE_135M, SHAPE_15M } from '../src/model/synthetic.ts'
import { HARNESS_PAGE_SCRIPT, bundleHarness, harnessRoutes } from './browser/bundle.ts'
import type { HarnessResult, HarnessRun } from './browser/harness.ts'
import { ensureBenchPackage } from './llama-cpp.ts'
import { launchChromium, serveIsolated } from '../test/fixtures/browser.ts'
import { median } from './measure.ts'
import { BENCH_MODELS, ensureBenchModel } from './models.ts'
import { promptIds } from './run-engine.ts'

const { values: opts } = parseArgs({
  options: {
    shapes: { type: 'string', default: '135M' },
    types: { type: 'string', default: 'q8_0,q4_0,q4_k_m' },
    threads: { type: 'string', default: `1,${availableParallelism()}` },
    reps: { type: 'string', default: '2' },
    gen: { type: 'string', default: '64' },
    prompt: { type: 'string', default: '128' }
  }
})
const log = (msg: string): void => { process.stderr.write(`[bench] ${msg}\n`) }
const shapes = { '15M': SHAPE_15M, '135M': SHAPE_135M }
const models = BENCH_MODELS
const wllamaDir = ensureBenchPackage('@wllama/wllama@3.8.1')
await bundleHarness()

const ensureModel = async (shape: keyof typeof shapes, type: 'f32' | QuantType): Promise<string> => await ensureBenchModel(shape, shapes[shape], type, log)

// The page's origin: cross-origin isolated (COOP/COEP), which SharedArrayBuffer and threads need.
const routes: Array<[string, string]> = [['/wllama/', `${wllamaDir}/`], ...harnessRoutes(models)]
const PAGE = `<!doctype html><meta charset="utf-8"><script type="module">
import { Wllama } from '/wllama/esm/index.js'
${HARNESS_PAGE_SCRIPT}
const quiet = { debug () {}, log () {}, warn () {}, error: console.error }
window.wllamaRun = async ({ model, threads, text, promptTokens, gen }) => {
  const w = new Wllama({ default: '/wllama/esm/wasm/wllama.wasm' }, { suppressNativeLog: true, logger: quiet })
  const blob = await (await fetch('/models/' + model)).blob()
  await w.loadModel([blob], { n_threads: threads, n_ctx: 2 * promptTokens + gen + 16, n_batch: 512, n_gpu_layers: 0 })
  const r = await w.createCompletion({ prompt: text, max_tokens: gen, temperature: 0, ignore_eos: true, cache_prompt: false })
  await w.exit()
  return { prefill_tok_s: r.timings.prompt_per_second, decode_tok_s: r.timings.predicted_per_second, prompt_tokens: r.timings.prompt_n }
}
window.ready = true
</script>`
const server = await serveIsolated(PAGE, routes)
const origin = server.origin
const browser = await launchChromium()

type Engine = 'gridllm' | 'wllama'
interface Result { prefill_tok_s: number, decode_tok_s: number, kernels?: string, prompt_tokens?: number }

async function runOnce (engine: Engine, model: string, run: HarnessRun, text: string): Promise<Result> {
  const page = await browser.newPage()
  try {
    page.on('pageerror', e => log(`page error: ${e.message}`))
    await page.goto(origin + '/')
    await page.waitForFunction(() => (globalThis as { ready?: boolean }).ready === true)
    if (engine === 'wllama') return await page.evaluate(async a => await (globalThis as unknown as { wllamaRun: (a: object) => Promise<Result> }).wllamaRun(a), { model, threads: run.threads, text, promptTokens: run.prompt.length, gen: run.gen })
    return await page.evaluate(async a => await (globalThis as unknown as { gridllmRun: (a: HarnessRun) => Promise<HarnessResult> }).gridllmRun(a), run)
  } finally {
    await page.close()
  }
}

const round = (x: number): number => Math.round(x * 100) / 100
try {
  for (const shape of opts.shapes.split(',') as Array<keyof typeof shapes>) {
    for (const type of opts.types.split(',') as Array<'f32' | QuantType>) {
      const model = await ensureModel(shape, type)
      const source = await openModel(join(models, model))
      // wllama takes text: the prompt ids' text, which it tokenizes itself (its prompt_tokens say how many)
      const text = decode(createTokenizer(source.tokenizer!), promptIds(Number(opts.prompt)))
      const tensors = [...source.tensors.values()].map(t => ({ name: t.name, dtype: t.dtype, shape: [...t.shape], offset: t.offset, byteLength: t.byteLength }))
      for (const threads of opts.threads.split(',').map(Number)) {
        const run: HarnessRun = { model, config: source.config, tensors, threads, prompt: promptIds(Number(opts.prompt)), gen: Number(opts.gen) }
        const runs: Record<Engine, Result[]> = { gridllm: [], wllama: [] }
        for (let rep = 0; rep < Number(opts.reps); rep++) {
          for (const engine of (rep % 2 === 0 ? ['gridllm', 'wllama'] : ['wllama', 'gridllm']) as Engine[]) {
            const r = await runOnce(engine, model, run, text)
            log(`${model} ${threads}T ${engine}: prefill ${r.prefill_tok_s.toFixed(1)}, decode ${r.decode_tok_s.toFixed(1)} tok/s`)
            runs[engine].push(r)
          }
        }
        const m = (e: Engine, k: 'prefill_tok_s' | 'decode_tok_s'): number => median(runs[e].map(r => r[k]))
        process.stdout.write(JSON.stringify({
          bench: 'wasm-peers', model: model.replace('.gguf', ''), threads, kernels: runs.gridllm[0]?.kernels,
          decode_tok_s: round(m('gridllm', 'decode_tok_s')), wllama_decode_tok_s: round(m('wllama', 'decode_tok_s')), decode_ratio: round(m('gridllm', 'decode_tok_s') / m('wllama', 'decode_tok_s')),
          prefill_tok_s: round(m('gridllm', 'prefill_tok_s')), wllama_prefill_tok_s: round(m('wllama', 'prefill_tok_s')), prefill_ratio: round(m('gridllm', 'prefill_tok_s') / m('wllama', 'prefill_tok_s')),
          prompt_tokens: run.prompt.length, wllama_prompt_tokens: runs.wllama[0]?.prompt_tokens
        }) + '\n')
      }
    }
  }
} finally {
  await browser.close()
  await server.close()
}

/**
 * gridllm's webgpu backend against its wasm backend in the same headless Chromium (Debian's
 * chromium, driven by playwright-core), same GGUF, same forward pass (bench/browser/harness.ts in
 * a Worker). One JSON line per model:
 *   {"bench":"webgpu","model":"135M-q4_0","adapter":"…","software":true,"decode_tok_s":…,
 *    "wasm_decode_tok_s":…,"decode_ratio":…,"prefill_tok_s":…,"wasm_prefill_tok_s":…,
 *    "prefill_ratio":…,"ms_per_layer_token":…,"agree_tokens":…,…}
 * ms_per_layer_token is webgpu's decode time per token over the model's layers (the target for
 * a 0.6B-class model on a GPU is <= 0.6). agree_tokens: how many greedy tokens the two backends
 * produce alike before the first difference (random weights make near ties, so it says little
 * beyond "both compute the same model"; the tests check correctness).
 *
 * The adapter is the machine's own when Chromium finds one (flags: --enable-unsafe-webgpu, and
 * Vulkan on Linux); otherwise, or with --software, SwiftShader's software adapter, on which only
 * correctness counts. The script runs unchanged on a machine with a GPU.
 * Options: --shapes 135M --types f32,q8_0,q4_0 --threads <cores> (wasm's) --reps 1 --gen 32 --prompt 64 --software
 * Models are the files bench/decode.ts writes (gridllm quantize's), made here if missing.
 */
import { availableParallelism } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import type { Browser, Page } from 'playwright-core'
import { type AdapterFacts, isSoftwareAdapter } from '../src/kernels/webgpu/index.ts'
import { openModel } from '../src/model/index.ts'
import type { QuantType } from '../src/model/gguf/recipe.ts'
import { SHAPE_135M, SHAPE_15M } from '../src/model/synthetic.ts'
import { HARNESS_PAGE_SCRIPT, bundleHarness, harnessRoutes } from './browser/bundle.ts'
import type { HarnessResult, HarnessRun } from './browser/harness.ts'
import { SOFTWARE_WEBGPU, launchChromium, serveIsolated } from '../test/fixtures/browser.ts'
import { median } from './measure.ts'
import { BENCH_MODELS, ensureBenchModel } from './models.ts'
import { promptIds } from './run-engine.ts'

const { values: opts } = parseArgs({
  options: {
    shapes: { type: 'string', default: '135M' },
    types: { type: 'string', default: 'f32,q8_0,q4_0' },
    threads: { type: 'string', default: String(availableParallelism()) },
    reps: { type: 'string', default: '1' },
    gen: { type: 'string', default: '32' },
    prompt: { type: 'string', default: '64' },
    software: { type: 'boolean', default: false }
  }
})
const log = (msg: string): void => { process.stderr.write(`[bench] ${msg}\n`) }
const shapes = { '15M': SHAPE_15M, '135M': SHAPE_135M }
await bundleHarness()

const PAGE = `<!doctype html><meta charset="utf-8"><script type="module">
${HARNESS_PAGE_SCRIPT}
window.adapterInfo = async () => {
  const a = await navigator.gpu?.requestAdapter()
  return a ? { vendor: a.info.vendor, architecture: a.info.architecture, device: a.info.device, description: a.info.description, isFallbackAdapter: a.info.isFallbackAdapter === true } : null
}
window.ready = true
</script>`
const server = await serveIsolated(PAGE, harnessRoutes(BENCH_MODELS))
interface AdapterInfo extends AdapterFacts { vendor: string, architecture: string }
interface Win { ready?: boolean, adapterInfo: () => Promise<AdapterInfo | null>, gridllmRun: (r: HarnessRun) => Promise<HarnessResult> }

/** `fn` on a fresh page of the bench's origin, once its script is ready. */
async function withPage<T> (browser: Browser, fn: (page: Page) => Promise<T>): Promise<T> {
  const page = await browser.newPage()
  try {
    page.on('pageerror', e => log(`page error: ${e.message}`))
    await page.goto(server.origin + '/')
    await page.waitForFunction(() => (globalThis as { ready?: boolean }).ready === true)
    return await fn(page)
  } finally {
    await page.close()
  }
}
const probe = async (b: Browser): Promise<AdapterInfo | null> => await withPage(b, async p => await p.evaluate(async () => await (globalThis as unknown as Win).adapterInfo()))
const runIn = async (b: Browser, run: HarnessRun): Promise<HarnessResult> => await withPage(b, async p => await p.evaluate(async a => await (globalThis as unknown as Win).gridllmRun(a), run))

/** Chromium with the machine's adapter if it has one, else (or with --software) SwiftShader's. */
async function launch (): Promise<{ browser: Browser, adapter: AdapterInfo }> {
  if (!opts.software) {
    const browser = await launchChromium(['--enable-unsafe-webgpu', '--enable-features=Vulkan'])
    const adapter = await probe(browser)
    if (adapter !== null) return { browser, adapter }
    log('no hardware WebGPU adapter: using SwiftShader\'s software adapter')
    await browser.close()
  }
  const browser = await launchChromium(SOFTWARE_WEBGPU)
  const adapter = await probe(browser)
  if (adapter === null) { await browser.close(); throw new Error('Chromium offers no WebGPU adapter, not even SwiftShader\'s') }
  return { browser, adapter }
}

const { browser, adapter } = await launch()
const software = isSoftwareAdapter(adapter)
log(`adapter: ${adapter.vendor} ${adapter.architecture}${software ? ' (software)' : ''}`)
const round = (x: number): number => Math.round(x * 1000) / 1000
const commonPrefix = (a: number[], b: number[]): number => { let i = 0; while (i < a.length && a[i] === b[i]) i++; return i }

type Kind = 'webgpu' | 'wasm'
try {
  for (const shape of opts.shapes.split(',') as Array<keyof typeof shapes>) {
    if (shapes[shape] === undefined) throw new Error(`--shapes: unknown shape ${shape} (have ${Object.keys(shapes).join(', ')})`)
    for (const type of opts.types.split(',') as Array<'f32' | QuantType>) {
      const model = await ensureBenchModel(shape, shapes[shape], type, log)
      const source = await openModel(join(BENCH_MODELS, model))
      const tensors = [...source.tensors.values()].map(t => ({ name: t.name, dtype: t.dtype, shape: [...t.shape], offset: t.offset, byteLength: t.byteLength }))
      const base = { model, config: source.config, tensors, threads: Number(opts.threads), prompt: promptIds(Number(opts.prompt)), gen: Number(opts.gen) }
      const runs: Record<Kind, HarnessResult[]> = { webgpu: [], wasm: [] }
      for (let rep = 0; rep < Number(opts.reps); rep++) {
        for (const kind of (rep % 2 === 0 ? ['webgpu', 'wasm'] : ['wasm', 'webgpu']) as Kind[]) {
          const run: HarnessRun = { ...base, backend: kind }
          runs[kind].push(await runIn(browser, run))
          const last = runs[kind].at(-1)!
          log(`${model} ${kind}: prefill ${last.prefill_tok_s.toFixed(2)}, decode ${last.decode_tok_s.toFixed(2)} tok/s`)
        }
      }
      const m = (k: Kind, key: 'prefill_tok_s' | 'decode_tok_s'): number => median(runs[k].map(r => r[key]))
      process.stdout.write(JSON.stringify({
        bench: 'webgpu', model: model.replace('.gguf', ''), adapter: runs.webgpu[0]!.kernels, software, wasm_kernels: runs.wasm[0]!.kernels, wasm_threads: base.threads,
        decode_tok_s: round(m('webgpu', 'decode_tok_s')), wasm_decode_tok_s: round(m('wasm', 'decode_tok_s')), decode_ratio: round(m('webgpu', 'decode_tok_s') / m('wasm', 'decode_tok_s')),
        prefill_tok_s: round(m('webgpu', 'prefill_tok_s')), wasm_prefill_tok_s: round(m('wasm', 'prefill_tok_s')), prefill_ratio: round(m('webgpu', 'prefill_tok_s') / m('wasm', 'prefill_tok_s')),
        ms_per_layer_token: round(1000 / m('webgpu', 'decode_tok_s') / source.config.nLayers), layers: source.config.nLayers,
        agree_tokens: commonPrefix(runs.webgpu[0]!.tokens, runs.wasm[0]!.tokens), prompt_tokens: base.prompt.length, gen: base.gen
      }) + '\n')
    }
  }
} finally {
  await browser.close()
  await server.close()
}


/**
 * What bench/wasm-peers.ts and bench/webgpu.ts run inside Chromium (bundled by
 * bench/browser/bundle.ts), as a module Web Worker (a page's main thread may not Atomics.wait,
 * which the thread pool does): gridllm's wasm or webgpu backend and forward pass on a GGUF file
 * fetched from the bench's server, greedy decode after a prompt, timed like bench/run-engine.ts.
 * The GGUF header is parsed in Node and passed in; the worker answers one message { run } with
 * { result } or { error }.
 */
import { WasmBackend, relaxedDotWorks } from '../../src/kernels/wasm/backend.ts'
import { ARGS_BYTE, CHUNK_BITS, CONTROL_BYTES, Ctl, KERNELS, MAX_ARGS, SPIN, ThreadPool } from '../../src/kernels/wasm/pool.ts'
import type { Backend, Tensor } from '../../src/kernels/backend.ts'
import { createWebGpuBackend } from '../../src/kernels/webgpu/index.ts'
import { type ModelConfig, TensorNames, layerParts, type LayerPart } from '../../src/model/config.ts'
import { SpanForward } from '../../src/model/forward.ts'
import { ModelEnds } from '../../src/model/ends.ts'
import { allocKvCache } from '../../src/model/kv-cache.ts'
import type { LayerWeights } from '../../src/model/weights.ts'
import type { DType } from '../../src/tensor/index.ts'

export interface HarnessTensor { name: string, dtype: DType, shape: number[], offset: number, byteLength: number }
export interface HarnessRun {
  model: string, config: ModelConfig, tensors: HarnessTensor[], prompt: number[], gen: number
  /** wasm (the default) on `threads` threads, or webgpu on the page's adapter */
  backend?: 'wasm' | 'webgpu', threads: number
}
/** kernels: the wasm build (dot, baseline) or the WebGPU adapter's vendor and architecture */
export interface HarnessResult { prefill_tok_s: number, decode_tok_s: number, tokens: number[], kernels: string }

/** The browser's Worker, as far as used here (the project's types leave out the DOM). */
declare const Worker: new (url: string, options: { type: 'module' }) => {
  onmessage: (() => void) | null
  onerror: ((e: { message: string }) => void) | null
  postMessage: (message: unknown) => void
  terminate: () => void
}

const PART_KEYS: Readonly<Record<LayerPart, keyof LayerWeights>> = {
  'attn_norm.weight': 'attnNorm', 'attn_q.weight': 'wq', 'attn_k.weight': 'wk', 'attn_v.weight': 'wv',
  'attn_q.bias': 'bq', 'attn_k.bias': 'bk', 'attn_v.bias': 'bv', 'attn_output.weight': 'wo',
  'attn_q_norm.weight': 'qNorm', 'attn_k_norm.weight': 'kNorm',
  'ffn_norm.weight': 'ffnNorm', 'ffn_gate.weight': 'wGate', 'ffn_up.weight': 'wUp', 'ffn_down.weight': 'wDown'
}

async function kernels (): Promise<{ module: WebAssembly.Module, build: string }> {
  const dot = await WebAssembly.compile(new Uint8Array(await (await fetch('/kernels-dot.wasm')).arrayBuffer()))
  if (relaxedDotWorks(dot)) return { module: dot, build: 'dot' }
  return { module: await WebAssembly.compile(new Uint8Array(await (await fetch('/kernels.wasm')).arrayBuffer())), build: 'baseline' }
}

async function backend (module: WebAssembly.Module, threads: number): Promise<WasmBackend> {
  const memory = new WebAssembly.Memory({ initial: 2, maximum: 65536, shared: true })
  if (threads === 1) return new WasmBackend({ module, memory })
  const control = new SharedArrayBuffer(CONTROL_BYTES)
  const layout = { ...Ctl, ARGS_BYTE, MAX_ARGS, SPIN, CHUNK_BITS }
  const workers = Array.from({ length: threads - 1 }, () => new Worker('/worker.js', { type: 'module' }))
  await Promise.all(workers.map(async (w, index) => await new Promise<void>((resolve, reject) => {
    w.onmessage = () => resolve()
    w.onerror = e => reject(new Error(e.message))
    w.postMessage({ module, memory, control, index, kernels: KERNELS, layout })
  })))
  return new WasmBackend({ module, memory, pool: new ThreadPool(control, workers.length, () => { for (const w of workers) w.terminate() }) })
}

async function open (r: HarnessRun): Promise<{ be: Backend, build: string }> {
  if (r.backend === 'webgpu') {
    const be = await createWebGpuBackend()
    return { be, build: be.adapterName }
  }
  const { module, build } = await kernels()
  return { be: await backend(module, r.threads), build }
}

async function run (r: HarnessRun): Promise<HarnessResult> {
  const { be, build } = await open(r)
  const file = new Uint8Array(await (await fetch(`/models/${r.model}`)).arrayBuffer())
  const t = new Map<string, Tensor>()
  for (const e of r.tensors) {
    // vectors (norms, biases) are added elementwise: f32, as weights.ts keeps them
    const bytes = file.subarray(e.offset, e.offset + e.byteLength)
    if (e.shape.length === 1 && e.dtype !== 'f32') throw new Error(`${e.name}: only f32 vectors here`)
    t.set(e.name, be.fromBytes(e.dtype, e.shape, bytes))
  }
  const c = r.config
  const layers: LayerWeights[] = []
  for (let l = 0; l < c.nLayers; l++) {
    const layer: Partial<Record<keyof LayerWeights, Tensor>> = {}
    for (const part of layerParts(c)) layer[PART_KEYS[part]] = t.get(TensorNames.layer(l, part))!
    layers.push(layer as LayerWeights)
  }
  const ends = new ModelEnds(c, be, { embedding: t.get(TensorNames.embedding)!, outputNorm: t.get(TensorNames.outputNorm)!, output: t.get(c.tiedEmbeddings ? TensorNames.embedding : TensorNames.output)! })
  const forward = new SpanForward(be, c, layers)
  const cache = allocKvCache(be, c, c.nLayers, r.prompt.length + r.gen)
  const tokens: number[] = []
  let input = r.prompt
  let pos = 0
  const t0 = performance.now()
  let t1 = 0
  while (tokens.length < r.gen) {
    const hidden = await forward.run(cache, await ends.embed(input), pos)
    pos += input.length
    const logits = await ends.logits(hidden.subarray(hidden.length - c.dim))
    let best = 0
    for (let i = 1; i < logits.length; i++) if (logits[i]! > logits[best]!) best = i
    tokens.push(best)
    if (tokens.length === 1) t1 = performance.now()
    input = [best]
  }
  const t2 = performance.now()
  be.dispose()
  return { prefill_tok_s: r.prompt.length / ((t1 - t0) / 1000), decode_tok_s: (r.gen - 1) / ((t2 - t1) / 1000), tokens, kernels: build }
}

const worker = globalThis as unknown as { onmessage: ((e: { data: HarnessRun }) => void) | null, postMessage: (m: unknown) => void }
worker.onmessage = e => {
  run(e.data).then(result => worker.postMessage({ result }), (err: Error) => worker.postMessage({ error: String(err?.stack ?? err) }))
}

/** Node's side of the wasm backend: reads the compiled kernels and starts worker_threads. */
import { existsSync } from 'node:fs'
import { readFile } from 'node:fs/promises'
import { availableParallelism } from 'node:os'
import { setFlagsFromString } from 'node:v8'
import { Worker } from 'node:worker_threads'
import { GridError, InvalidArgumentError } from '../../util/errors.ts'
import { logger } from '../../util/log.ts'
import { WasmBackend, relaxedDotWorks } from './backend.ts'
import { ARGS_BYTE, CHUNK_BITS, CONTROL_BYTES, Ctl, KERNELS, MAX_ARGS, SPIN, ThreadPool } from './pool.ts'

const log = logger('kernels:wasm')

export const KERNELS_WASM = new URL('./build/kernels.wasm', import.meta.url)
/** The kernels with relaxed-SIMD integer dot products: bit-identical results to the baseline build, faster. */
export const KERNELS_DOT_WASM = new URL('./build/kernels-dot.wasm', import.meta.url)
/** Relaxed-SIMD dot products and fused multiply-adds (last-bit results may differ between machines). */
export const KERNELS_RELAXED_WASM = new URL('./build/kernels-relaxed.wasm', import.meta.url)
const WORKER = new URL('./worker.mjs', import.meta.url)
/** 4 GiB, the most a wasm32 memory addresses; only touched pages take RAM. */
const MAX_PAGES = 65536

export class KernelsNotBuiltError extends GridError {
  constructor (cause: unknown) {
    super('INTERNAL', `the WebAssembly kernels are not built (${KERNELS_WASM.pathname}); run \`npm run build:wasm\``, { cause })
    this.name = 'KernelsNotBuiltError'
  }
}

/** Whether the compiled kernels are there (`auto` falls back to the ref backend without them). */
export function wasmKernelsBuilt (): boolean {
  return existsSync(KERNELS_WASM)
}

export type KernelsBuild = 'baseline' | 'dot' | 'relaxed'

const compiled = new Map<KernelsBuild, Promise<WebAssembly.Module>>()

/** The build asked for when this engine validates it (relaxed SIMD), else the baseline build. */
async function kernelsModule (build: KernelsBuild): Promise<WebAssembly.Module> {
  let module = compiled.get(build)
  if (module === undefined) {
    module = (async () => {
      // (a plain Uint8Array: the browser build type-checks this file against the DOM typings too)
      const read = async (url: URL): Promise<Uint8Array<ArrayBuffer>> => new Uint8Array(await readFile(url).catch((err: unknown) => { throw new KernelsNotBuiltError(err) }))
      const bytes = build === 'baseline' ? undefined : await read(build === 'dot' ? KERNELS_DOT_WASM : KERNELS_RELAXED_WASM)
      // Node 20's V8 has relaxed SIMD behind a flag (on by default from Node 22); it applies to modules compiled later
      if (bytes !== undefined && !WebAssembly.validate(bytes)) setFlagsFromString('--experimental-wasm-relaxed-simd')
      if (bytes !== undefined && WebAssembly.validate(bytes)) {
        const module = await WebAssembly.compile(bytes)
        if (relaxedDotWorks(module)) return module
        log('this engine computes relaxed-SIMD dot products wrongly; using the baseline kernels')
      } else if (bytes !== undefined) log('relaxed SIMD is not available; using the baseline kernels')
      return await WebAssembly.compile(await read(KERNELS_WASM))
    })()
    module.catch(() => compiled.delete(build))
    compiled.set(build, module)
  }
  return await module
}

export interface WasmBackendNodeOptions {
  /** threads taking part in products, the caller included; default: the number of cores */
  threads?: number
  /**
   * use relaxed-SIMD kernels with fused multiply-adds (faster, last-bit results may differ between
   * machines, so peers cannot compare them bit for bit) when the engine has them; default false
   */
  relaxedSimd?: boolean
  /**
   * use relaxed-SIMD integer dot products where the engine has them (results bit-identical to the
   * baseline kernels); default true. false forces the baseline SIMD128 kernels.
   */
  relaxedDot?: boolean
}

export async function createWasmBackend (options: WasmBackendNodeOptions = {}): Promise<WasmBackend> {
  const threads = options.threads ?? availableParallelism()
  if (!Number.isInteger(threads) || threads < 1) throw new InvalidArgumentError(`threads must be a positive integer, got ${threads}`)
  const module = await kernelsModule(options.relaxedSimd === true ? 'relaxed' : options.relaxedDot === false ? 'baseline' : 'dot')
  const memory = new WebAssembly.Memory({ initial: 2, maximum: MAX_PAGES, shared: true })
  if (threads === 1) return new WasmBackend({ module, memory })

  const control = new SharedArrayBuffer(CONTROL_BYTES)
  const layout = { ...Ctl, ARGS_BYTE, MAX_ARGS, SPIN, CHUNK_BITS }
  const workers = Array.from({ length: threads - 1 }, (_, index) =>
    new Worker(WORKER, { workerData: { module, memory, control, index, kernels: KERNELS, layout } }))
  try {
    await Promise.all(workers.map(async w => await new Promise<void>((resolve, reject) => {
      w.once('message', () => resolve())
      w.once('error', reject)
      w.once('exit', code => reject(new GridError('INTERNAL', `a kernel worker exited with code ${code} while starting`)))
    })))
  } catch (err) {
    await Promise.all(workers.map(async w => await w.terminate()))
    throw err
  }
  for (const w of workers) {
    w.removeAllListeners()
    w.on('message', (m: { error?: string }) => { if (m.error !== undefined) log('worker error: %s', m.error) })
    w.unref() // never keeps the process alive; dispose() ends them
  }
  log('wasm backend with %d threads', threads)
  const pool = new ThreadPool(control, workers.length, () => { for (const w of workers) void w.terminate() })
  return new WasmBackend({ module, memory, pool })
}

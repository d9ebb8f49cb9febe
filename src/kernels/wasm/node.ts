/** Node's side of the wasm backend: reads the compiled kernels and starts worker_threads. */
import { readFile } from 'node:fs/promises'
import { availableParallelism } from 'node:os'
import { setFlagsFromString } from 'node:v8'
import { Worker } from 'node:worker_threads'
import { GridError, InvalidArgumentError } from '../../util/errors.ts'
import { logger } from '../../util/log.ts'
import { WasmBackend } from './backend.ts'
import { ARGS_BYTE, CHUNK_BITS, CONTROL_BYTES, Ctl, KERNELS, MAX_ARGS, SPIN, ThreadPool } from './pool.ts'

const log = logger('kernels:wasm')

export const KERNELS_WASM = new URL('./build/kernels.wasm', import.meta.url)
/** The same kernels with relaxed-SIMD fused multiply-adds, for engines that have them. */
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

const compiled = new Map<boolean, Promise<WebAssembly.Module>>()

/** The relaxed-SIMD build when asked for and this engine validates it, else the baseline build. */
async function kernelsModule (relaxed: boolean): Promise<WebAssembly.Module> {
  let module = compiled.get(relaxed)
  if (module === undefined) {
    module = (async () => {
      // (a plain Uint8Array: the browser build type-checks this file against the DOM typings too)
      const read = async (url: URL): Promise<Uint8Array<ArrayBuffer>> => new Uint8Array(await readFile(url).catch((err: unknown) => { throw new KernelsNotBuiltError(err) }))
      const bytes = relaxed ? await read(KERNELS_RELAXED_WASM) : undefined
      // Node 20's V8 has relaxed SIMD behind a flag (on by default from Node 22); it applies to modules compiled later
      if (bytes !== undefined && !WebAssembly.validate(bytes)) setFlagsFromString('--experimental-wasm-relaxed-simd')
      if (bytes !== undefined && WebAssembly.validate(bytes)) return await WebAssembly.compile(bytes)
      if (relaxed) log('relaxed SIMD is not available; using the baseline kernels')
      return await WebAssembly.compile(await read(KERNELS_WASM))
    })()
    module.catch(() => compiled.delete(relaxed))
    compiled.set(relaxed, module)
  }
  return await module
}

export interface WasmBackendNodeOptions {
  /** threads taking part in products, the caller included; default: the number of cores */
  threads?: number
  /**
   * use relaxed-SIMD kernels (fused multiply-adds: faster, last-bit results may differ between
   * machines, so peers cannot compare them bit for bit) when the engine has them; default false
   */
  relaxedSimd?: boolean
}

export async function createWasmBackend (options: WasmBackendNodeOptions = {}): Promise<WasmBackend> {
  const threads = options.threads ?? availableParallelism()
  if (!Number.isInteger(threads) || threads < 1) throw new InvalidArgumentError(`threads must be a positive integer, got ${threads}`)
  const module = await kernelsModule(options.relaxedSimd === true)
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

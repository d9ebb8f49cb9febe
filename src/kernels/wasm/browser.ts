/**
 * The browser's side of the wasm backend, next to node.ts (the web build uses this file in its
 * place; same exports): fetches the compiled kernels and starts module Web Workers that share one
 * WebAssembly.Memory. Needs a cross-origin isolated page (COOP/COEP) for shared memory, and, with
 * more than one thread, must run in a worker itself: the pool waits with Atomics.wait, which a
 * page's main thread may not call.
 */
import { GridError, InvalidArgumentError } from '../../util/errors.ts'
import { logger } from '../../util/log.ts'
import { WasmBackend } from './backend.ts'
import { ARGS_BYTE, CHUNK_BITS, CONTROL_BYTES, Ctl, KERNELS, MAX_ARGS, SPIN, ThreadPool } from './pool.ts'

const log = logger('kernels:wasm')

// next to the bundle that imports this (web/dist/): build/*.wasm and kernel-worker.js are copied there
export const KERNELS_WASM = new URL('./build/kernels.wasm', import.meta.url)
export const KERNELS_RELAXED_WASM = new URL('./build/kernels-relaxed.wasm', import.meta.url)
const WORKER = new URL('./kernel-worker.js', import.meta.url)
const MAX_PAGES = 65536

export class KernelsNotBuiltError extends GridError {
  constructor (cause: unknown) {
    super('INTERNAL', `the WebAssembly kernels could not be loaded from ${KERNELS_WASM.href}`, { cause })
    this.name = 'KernelsNotBuiltError'
  }
}

export interface WasmBackendNodeOptions {
  /** threads taking part in products, the caller included; default: navigator.hardwareConcurrency */
  threads?: number
  /** relaxed-SIMD kernels where the engine validates them */
  relaxedSimd?: boolean
}

const compiled = new Map<boolean, Promise<WebAssembly.Module>>()

async function kernelsModule (relaxed: boolean): Promise<WebAssembly.Module> {
  let module = compiled.get(relaxed)
  if (module === undefined) {
    module = (async () => {
      const read = async (url: URL): Promise<ArrayBuffer> => {
        const res = await fetch(url).catch((err: unknown) => { throw new KernelsNotBuiltError(err) })
        if (!res.ok) throw new KernelsNotBuiltError(new Error(`HTTP ${res.status}`))
        return await res.arrayBuffer()
      }
      if (relaxed) {
        const bytes = await read(KERNELS_RELAXED_WASM)
        if (WebAssembly.validate(bytes)) return await WebAssembly.compile(bytes)
        log('relaxed SIMD is not available; using the baseline kernels')
      }
      return await WebAssembly.compile(await read(KERNELS_WASM))
    })()
    module.catch(() => compiled.delete(relaxed))
    compiled.set(relaxed, module)
  }
  return await module
}

export async function createWasmBackend (options: WasmBackendNodeOptions = {}): Promise<WasmBackend> {
  const threads = options.threads ?? Math.max(1, navigator.hardwareConcurrency ?? 1)
  if (!Number.isInteger(threads) || threads < 1) throw new InvalidArgumentError(`threads must be a positive integer, got ${threads}`)
  if (typeof SharedArrayBuffer === 'undefined') throw new GridError('INTERNAL', 'shared memory needs a cross-origin isolated page (served with COOP and COEP headers)')
  const module = await kernelsModule(options.relaxedSimd === true)
  const memory = new WebAssembly.Memory({ initial: 2, maximum: MAX_PAGES, shared: true })
  if (threads === 1) return new WasmBackend({ module, memory })

  const control = new SharedArrayBuffer(CONTROL_BYTES)
  const layout = { ...Ctl, ARGS_BYTE, MAX_ARGS, SPIN, CHUNK_BITS }
  const workers = Array.from({ length: threads - 1 }, () => new Worker(WORKER, { type: 'module', name: 'gridllm kernels' }))
  try {
    await Promise.all(workers.map(async (w, index) => await new Promise<void>((resolve, reject) => {
      w.addEventListener('message', () => resolve(), { once: true })
      w.addEventListener('error', e => reject(new GridError('INTERNAL', `a kernel worker failed to start: ${e.message}`)), { once: true })
      w.postMessage({ module, memory, control, index, kernels: KERNELS, layout })
    })))
  } catch (err) {
    for (const w of workers) w.terminate()
    throw err
  }
  for (const w of workers) w.addEventListener('message', (e: MessageEvent<{ error?: string }>) => { if (e.data?.error !== undefined) log('worker error: %s', e.data.error) })
  log('wasm backend with %d threads', threads)
  const pool = new ThreadPool(control, workers.length, () => { for (const w of workers) w.terminate() })
  return new WasmBackend({ module, memory, pool })
}

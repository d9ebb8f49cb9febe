/** Node's side of the wasm backend: reads the compiled kernels and starts worker_threads. */
import { readFile } from 'node:fs/promises'
import { availableParallelism } from 'node:os'
import { Worker } from 'node:worker_threads'
import { GridError, InvalidArgumentError } from '../../util/errors.ts'
import { logger } from '../../util/log.ts'
import { WasmBackend } from './backend.ts'
import { ARGS_BYTE, CHUNK_BITS, CONTROL_BYTES, Ctl, KERNELS, MAX_ARGS, SPIN, ThreadPool } from './pool.ts'

const log = logger('kernels:wasm')

export const KERNELS_WASM = new URL('./build/kernels.wasm', import.meta.url)
const WORKER = new URL('./worker.mjs', import.meta.url)
/** 4 GiB, the most a wasm32 memory addresses; only touched pages take RAM. */
const MAX_PAGES = 65536

export class KernelsNotBuiltError extends GridError {
  constructor (cause: unknown) {
    super('INTERNAL', `the WebAssembly kernels are not built (${KERNELS_WASM.pathname}); run \`npm run build:wasm\``, { cause })
    this.name = 'KernelsNotBuiltError'
  }
}

let compiled: Promise<WebAssembly.Module> | undefined

async function kernelsModule (): Promise<WebAssembly.Module> {
  compiled ??= readFile(KERNELS_WASM).then(
    async bytes => await WebAssembly.compile(bytes),
    (err: unknown) => { compiled = undefined; throw new KernelsNotBuiltError(err) })
  return await compiled
}

export interface WasmBackendNodeOptions {
  /** threads taking part in products, the caller included; default: the number of cores */
  threads?: number
}

export async function createWasmBackend (options: WasmBackendNodeOptions = {}): Promise<WasmBackend> {
  const threads = options.threads ?? availableParallelism()
  if (!Number.isInteger(threads) || threads < 1) throw new InvalidArgumentError(`threads must be a positive integer, got ${threads}`)
  const module = await kernelsModule()
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

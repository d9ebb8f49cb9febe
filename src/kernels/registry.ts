import { InvalidArgumentError } from '../util/errors.ts'
import { logger } from '../util/log.ts'
import type { Backend } from './backend.ts'
import { RefBackend } from './ref/index.ts'
import { KernelsNotBuiltError, createWasmBackend } from './wasm/index.ts'
import { createWebGpuBackend, isSoftwareAdapter, navigatorGpu, webGpuBackendOn } from './webgpu/index.ts'

const log = logger('kernels')

export type BackendName = 'ref' | 'wasm' | 'webgpu'

/** Every backend, fastest first where it exists (webgpu: where navigator.gpu does, i.e. browsers). */
export const backendNames: readonly BackendName[] = ['webgpu', 'wasm', 'ref']

export interface CreateBackendOptions {
  /** threads for backends that use them; default: the number of cores */
  threads?: number
  /** wasm: fused multiply-adds through relaxed SIMD where available (faster, not bit-reproducible across machines) */
  relaxedSimd?: boolean
  /** wasm: relaxed-SIMD integer dot products where available (default true; results identical to the baseline kernels) */
  relaxedDot?: boolean
}

/**
 * Creates a backend by name; `auto` picks the fastest available: webgpu on a GPU (a software
 * adapter is slower than the CPU kernels), else wasm, else ref.
 */
export async function createBackend (name: BackendName | 'auto' = 'auto', options: CreateBackendOptions = {}): Promise<Backend> {
  switch (name) {
    case 'auto':
      if (navigatorGpu() !== undefined) {
        const adapter = await navigatorGpu()!.requestAdapter().catch(() => null)
        if (adapter !== null && !isSoftwareAdapter(adapter.info)) return await webGpuBackendOn(adapter)
        log('no hardware WebGPU adapter; using the CPU kernels')
      }
      try {
        return await createWasmBackend(options)
      } catch (err) {
        if (!(err instanceof KernelsNotBuiltError)) throw err
        log('%s; falling back to the ref backend', err.message)
        return new RefBackend()
      }
    case 'wasm':
      return await createWasmBackend(options)
    case 'webgpu':
      return await createWebGpuBackend()
    case 'ref':
      return new RefBackend()
    default:
      throw new InvalidArgumentError(`unknown backend "${String(name)}" (available: ${backendNames.join(', ')})`)
  }
}

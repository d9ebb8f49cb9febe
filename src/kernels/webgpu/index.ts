/// <reference types="@webgpu/types" />
import { GridError } from '../../util/errors.ts'
import { WebGpuBackend } from './backend.ts'

export { WebGpuBackend } from './backend.ts'
export { WEBGPU_WEIGHT_TYPES } from './shaders.ts'

/** No WebGPU here: no `navigator.gpu` (Node, or a browser without it), or no adapter. */
export class WebGpuUnavailableError extends GridError {
  constructor (why: string) {
    super('INVALID_ARGUMENT', `the webgpu backend is not available: ${why}`)
    this.name = 'WebGpuUnavailableError'
  }
}

/** The GPU of this context, if it has one (browsers and workers with WebGPU). */
export function navigatorGpu (): GPU | undefined {
  return (globalThis as { navigator?: { gpu?: GPU } }).navigator?.gpu
}

/** What an adapter says of itself, as far as telling a software adapter goes (GPUAdapterInfo, or a copy of it). */
export interface AdapterFacts { vendor?: string, architecture?: string, device?: string, description?: string, isFallbackAdapter?: boolean }

/** Whether an adapter computes on the CPU (SwiftShader, llvmpipe, or what the browser calls a fallback adapter). */
export function isSoftwareAdapter (info: AdapterFacts): boolean {
  return info.isFallbackAdapter === true || /swiftshader|llvmpipe|lavapipe/i.test(`${info.architecture} ${info.vendor} ${info.device} ${info.description}`)
}

/**
 * A webgpu backend on the first adapter (`gpu`: navigator.gpu by default), asking for the largest
 * buffers the adapter allows (a model's embedding table is one buffer).
 */
export async function createWebGpuBackend (gpu: GPU | undefined = navigatorGpu()): Promise<WebGpuBackend> {
  if (gpu === undefined) throw new WebGpuUnavailableError('this runtime has no navigator.gpu (Node has no WebGPU binding installed; use a browser with WebGPU)')
  const adapter = await gpu.requestAdapter()
  if (adapter === null) throw new WebGpuUnavailableError('navigator.gpu offers no adapter')
  return await webGpuBackendOn(adapter)
}

/** A webgpu backend on `adapter`. */
export async function webGpuBackendOn (adapter: GPUAdapter): Promise<WebGpuBackend> {
  const device = await adapter.requestDevice({
    requiredLimits: {
      maxStorageBufferBindingSize: adapter.limits.maxStorageBufferBindingSize,
      maxBufferSize: adapter.limits.maxBufferSize
    }
  })
  const info = adapter.info
  const name = [info.vendor, info.architecture].filter(s => s !== '').join(' ') || 'unknown adapter'
  return new WebGpuBackend(device, isSoftwareAdapter(info) ? `${name} (software)` : name)
}

export { WasmBackend, type WasmBackendOptions } from './backend.ts'
export { ThreadPool } from './pool.ts'
export { createWasmBackend, KernelsNotBuiltError, wasmKernelsBuilt, type WasmBackendNodeOptions } from './node.ts'

export { WasmBackend, type WasmBackendOptions, relaxedDotWorks } from './backend.ts'
export { ThreadPool } from './pool.ts'
export { createWasmBackend, KernelsNotBuiltError, wasmKernelsBuilt, type WasmBackendNodeOptions } from './node.ts'

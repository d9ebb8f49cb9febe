import { createBackend } from '../../src/kernels/index.ts'
import { backendConformance } from './backend.case.ts'

backendConformance('wasm, 1 thread', async () => await createBackend('wasm', { threads: 1 }))
backendConformance('wasm, 3 threads', async () => await createBackend('wasm', { threads: 3 }))
backendConformance('wasm, relaxed SIMD where available, 2 threads', async () => await createBackend('wasm', { threads: 2, relaxedSimd: true }))

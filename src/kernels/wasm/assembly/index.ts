// The gridllm WebAssembly kernels. Every export takes byte offsets into the one shared memory
// (imported as env.memory); the host (src/kernels/wasm/backend.ts) owns allocation.
export { matmulF32 } from './matmul-f32'
export { quantizeActivations, packQ8, packQ4, matmulQ8, matmulQ4, getRows } from './matmul-q'
export { rmsnorm, rope, attention, siluMul, add, addBias } from './ops'

// The gridllm WebAssembly kernels. Every export takes byte offsets into the one shared memory
// (imported as env.memory); the host (src/kernels/wasm/backend.ts) owns allocation.
export { matmulF32 } from './matmul-f32'
export { matmul16, matmul16ScratchBytes, f16Finite, getRows16 } from './matmul-f16'
export { quantizeActivations } from './act'
export { packPlanes } from './planes'
export { mvQ, gemmQ, gemmScratchBytes, getRowsQ } from './gemm-q'
export { rmsnorm, rope, attention, siluMul, add, addBias, readProbe } from './ops'

/**
 * 1 when this build has relaxed-SIMD integer dot products (ACT_I8 activations for 4-6 bit formats)
 * and the engine computes them as the standard says (V8 11.3, Node 20's, returns twice the products
 * and drops the accumulator: such engines get the baseline build).
 */
export function relaxedDot (): i32 {
  if (!RELAXED_DOT) return 0
  const a = i8x16(-3, 127, -127, 5, 1, 2, 3, 4, 0, 0, 0, -1, 9, -9, 100, -100)
  const b = i8x16(5, 127, 127, 0, 1, 1, 1, 1, 0, 0, 0, 127, 63, 63, 1, 2)
  const r = i32x4.relaxed_dot_i8x16_i7x16_add_s(a, b, i32x4(7, -7, 1000, 0))
  return i32x4.extract_lane(r, 0) == -15 + 16129 - 16129 + 7 && i32x4.extract_lane(r, 1) == 10 - 7 &&
    i32x4.extract_lane(r, 2) == -127 + 1000 && i32x4.extract_lane(r, 3) == 567 - 567 + 100 - 200 ? 1 : 0
}

/**
 * Q8_0, byte-identical to GGUF/ggml's block_q8_0: per 32 values, an f16 scale `d`
 * then 32 int8 quants; value = d * q.
 */
import { f16ToF32, f32ToF16 } from './f16.ts'

export const BLOCK = 32
export const BYTES = 34

const fr = Math.fround

/** ggml's roundf: half away from zero. */
function roundHalfAway (x: number): number {
  return x < 0 ? -Math.round(-x) : Math.round(x)
}

/** Quantizes `src` (length a multiple of 32) into `dst` (src.length / 32 * 34 bytes). */
export function quantizeRef (src: Float32Array, dst = new Uint8Array((src.length / BLOCK) * BYTES)): Uint8Array {
  const view = new DataView(dst.buffer, dst.byteOffset, dst.byteLength)
  const nBlocks = src.length / BLOCK
  for (let b = 0; b < nBlocks; b++) {
    const x0 = b * BLOCK
    let amax = 0
    for (let j = 0; j < BLOCK; j++) amax = Math.max(amax, Math.abs(src[x0 + j]!))
    const d = fr(amax / 127)
    const id = d !== 0 ? fr(1 / d) : 0
    const o = b * BYTES
    view.setUint16(o, f32ToF16(d), true)
    for (let j = 0; j < BLOCK; j++) view.setInt8(o + 2 + j, roundHalfAway(fr(src[x0 + j]! * id)))
  }
  return dst
}

export function dequantizeRef (src: Uint8Array, n: number, dst: Float32Array = new Float32Array(n)): Float32Array {
  const view = new DataView(src.buffer, src.byteOffset, src.byteLength)
  for (let b = 0; b < n / BLOCK; b++) {
    const o = b * BYTES
    const d = f16ToF32(view.getUint16(o, true))
    for (let j = 0; j < BLOCK; j++) dst[b * BLOCK + j] = d * view.getInt8(o + 2 + j)
  }
  return dst
}

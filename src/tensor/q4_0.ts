/**
 * Q4_0, byte-identical to GGUF/ggml's block_q4_0: per 32 values, an f16 scale `d` then 16 bytes of
 * nibbles; byte j holds element j in its low nibble and element j+16 in its high nibble;
 * value = d * (q - 8).
 */
import { f16ToF32, f32ToF16 } from './f16.ts'

export const BLOCK = 32
export const BYTES = 18

const fr = Math.fround

export function quantizeRef (src: Float32Array, dst = new Uint8Array((src.length / BLOCK) * BYTES)): Uint8Array {
  const view = new DataView(dst.buffer, dst.byteOffset, dst.byteLength)
  const nBlocks = src.length / BLOCK
  for (let b = 0; b < nBlocks; b++) {
    const x0 = b * BLOCK
    // the value of largest magnitude, with its sign, maps to -8
    let amax = 0
    let max = 0
    for (let j = 0; j < BLOCK; j++) {
      const v = src[x0 + j]!
      if (amax < Math.abs(v)) { amax = Math.abs(v); max = v }
    }
    const d = fr(max / -8)
    const id = d !== 0 ? fr(1 / d) : 0
    const o = b * BYTES
    view.setUint16(o, f32ToF16(d), true)
    for (let j = 0; j < BLOCK / 2; j++) {
      const lo = Math.min(15, Math.trunc(fr(fr(src[x0 + j]! * id) + 8.5)))
      const hi = Math.min(15, Math.trunc(fr(fr(src[x0 + j + 16]! * id) + 8.5)))
      dst[o + 2 + j] = lo | (hi << 4)
    }
  }
  return dst
}

export function dequantizeRef (src: Uint8Array, n: number, dst: Float32Array = new Float32Array(n)): Float32Array {
  const view = new DataView(src.buffer, src.byteOffset, src.byteLength)
  for (let b = 0; b < n / BLOCK; b++) {
    const o = b * BYTES
    const d = f16ToF32(view.getUint16(o, true))
    for (let j = 0; j < BLOCK / 2; j++) {
      const q = src[o + 2 + j]!
      dst[b * BLOCK + j] = d * ((q & 0x0f) - 8)
      dst[b * BLOCK + j + 16] = d * ((q >> 4) - 8)
    }
  }
  return dst
}

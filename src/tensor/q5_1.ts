/**
 * Q5_1, byte-identical to GGUF/ggml's block_q5_1: per 32 values, an f16 scale `d`, an f16 min `m`,
 * 4 bytes `qh` of fifth bits (bit j: element j) and 16 bytes of nibbles (byte j: element j low,
 * j + 16 high); value = d * q + m.
 */
import { f16ToF32, f32ToF16 } from './f16.ts'

export const BLOCK = 32
export const BYTES = 24

const fr = Math.fround

export function quantizeRef (src: Float32Array, dst = new Uint8Array((src.length / BLOCK) * BYTES)): Uint8Array {
  const view = new DataView(dst.buffer, dst.byteOffset, dst.byteLength)
  for (let b = 0; b < src.length / BLOCK; b++) {
    const x0 = b * BLOCK
    let min = Infinity
    let max = -Infinity
    for (let j = 0; j < BLOCK; j++) {
      const v = src[x0 + j]!
      if (v < min) min = v
      if (v > max) max = v
    }
    const d = fr(fr(max - min) / 31)
    const id = d !== 0 ? fr(1 / d) : 0
    const o = b * BYTES
    view.setUint16(o, f32ToF16(d), true)
    view.setUint16(o + 2, f32ToF16(min), true)
    let qh = 0
    for (let j = 0; j < BLOCK / 2; j++) {
      // (uint8_t) truncation as in ggml, no clamp
      const lo = Math.trunc(fr(fr(fr(src[x0 + j]! - min) * id) + 0.5)) & 0xff
      const hi = Math.trunc(fr(fr(fr(src[x0 + j + 16]! - min) * id) + 0.5)) & 0xff
      dst[o + 8 + j] = (lo & 15) | ((hi & 15) << 4)
      qh |= (((lo & 0x10) >> 4) << j) | (((hi & 0x10) >> 4) << (j + 16))
    }
    view.setUint32(o + 4, qh >>> 0, true)
  }
  return dst
}

export function dequantizeRef (src: Uint8Array, n: number, dst: Float32Array = new Float32Array(n)): Float32Array {
  const view = new DataView(src.buffer, src.byteOffset, src.byteLength)
  for (let b = 0; b < n / BLOCK; b++) {
    const o = b * BYTES
    const d = f16ToF32(view.getUint16(o, true))
    const m = f16ToF32(view.getUint16(o + 2, true))
    const qh = view.getUint32(o + 4, true)
    for (let j = 0; j < BLOCK / 2; j++) {
      const q = src[o + 8 + j]!
      dst[b * BLOCK + j] = fr(fr(d * ((q & 15) | (((qh >>> j) & 1) << 4))) + m)
      dst[b * BLOCK + j + 16] = fr(fr(d * ((q >> 4) | (((qh >>> (j + 16)) & 1) << 4))) + m)
    }
  }
  return dst
}

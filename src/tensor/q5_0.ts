/**
 * Q5_0, byte-identical to GGUF/ggml's block_q5_0: per 32 values, an f16 scale `d`, 4 bytes `qh` of
 * fifth bits (bit j: element j) and 16 bytes of nibbles (byte j: element j low, j + 16 high);
 * value = d * (q - 16).
 */
import { f16ToF32, f32ToF16 } from './f16.ts'

export const BLOCK = 32
export const BYTES = 22

const fr = Math.fround

export function quantizeRef (src: Float32Array, dst = new Uint8Array((src.length / BLOCK) * BYTES)): Uint8Array {
  const view = new DataView(dst.buffer, dst.byteOffset, dst.byteLength)
  for (let b = 0; b < src.length / BLOCK; b++) {
    const x0 = b * BLOCK
    // the value of largest magnitude, with its sign, maps to -16
    let amax = 0
    let max = 0
    for (let j = 0; j < BLOCK; j++) {
      const v = src[x0 + j]!
      if (amax < Math.abs(v)) { amax = Math.abs(v); max = v }
    }
    const d = fr(max / -16)
    const id = d !== 0 ? fr(1 / d) : 0
    const o = b * BYTES
    view.setUint16(o, f32ToF16(d), true)
    let qh = 0
    for (let j = 0; j < BLOCK / 2; j++) {
      const lo = Math.min(31, Math.trunc(fr(fr(src[x0 + j]! * id) + 16.5)))
      const hi = Math.min(31, Math.trunc(fr(fr(src[x0 + j + 16]! * id) + 16.5)))
      dst[o + 6 + j] = (lo & 15) | ((hi & 15) << 4)
      qh |= ((lo >> 4) << j) | ((hi >> 4) << (j + 16))
    }
    view.setUint32(o + 2, qh >>> 0, true)
  }
  return dst
}

export function dequantizeRef (src: Uint8Array, n: number, dst: Float32Array = new Float32Array(n)): Float32Array {
  const view = new DataView(src.buffer, src.byteOffset, src.byteLength)
  for (let b = 0; b < n / BLOCK; b++) {
    const o = b * BYTES
    const d = f16ToF32(view.getUint16(o, true))
    const qh = view.getUint32(o + 2, true)
    for (let j = 0; j < BLOCK / 2; j++) {
      const q = src[o + 6 + j]!
      dst[b * BLOCK + j] = d * (((q & 15) | (((qh >>> j) & 1) << 4)) - 16)
      dst[b * BLOCK + j + 16] = d * (((q >> 4) | (((qh >>> (j + 16)) & 1) << 4)) - 16)
    }
  }
  return dst
}

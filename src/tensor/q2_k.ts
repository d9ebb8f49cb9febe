/**
 * Q2_K, byte-identical to GGUF/ggml's block_q2_K: super-blocks of 256 values in 16 sub-blocks of 16.
 * Bytes: 16 scale bytes (low nibble: scale, high nibble: min), 64 bytes of 2-bit levels, f16 `d`,
 * f16 `dmin`. In each half of 128 values (32 level bytes), value 32k + l (k < 4, l < 32) sits at
 * bits 2k..2k+1 of byte l; sub-block s covers values 16s..16s+15.
 * value = d * scale[s] * q - dmin * min[s].
 */
import { f16ToF32, f32ToF16 } from './f16.ts'
import { QK_K, fr, makeQkx2Quants, nearestInt } from './kquant.ts'

export const BLOCK = QK_K
export const BYTES = 84

export function quantizeRef (src: Float32Array, dst = new Uint8Array((src.length / BLOCK) * BYTES)): Uint8Array {
  const view = new DataView(dst.buffer, dst.byteOffset, dst.byteLength)
  const L = new Uint8Array(QK_K)
  const Laux = new Uint8Array(16)
  const weights = new Float32Array(16)
  const scales = new Float32Array(16)
  const mins = new Float32Array(16)
  for (let b = 0; b < src.length / BLOCK; b++) {
    const x0 = b * BLOCK
    const o = b * BYTES
    let maxScale = 0
    let maxMin = 0
    for (let j = 0; j < 16; j++) {
      for (let l = 0; l < 16; l++) weights[l] = Math.abs(src[x0 + 16 * j + l]!)
      const [scale, min] = makeQkx2Quants(16, 3, src, x0 + 16 * j, weights, L, 16 * j, Laux, -0.5, 0.1, 15, true)
      scales[j] = scale
      mins[j] = min
      if (scale > maxScale) maxScale = scale
      if (min > maxMin) maxMin = min
    }
    dst.fill(0, o, o + BYTES)
    if (maxScale > 0) {
      const iscale = fr(15 / maxScale)
      for (let j = 0; j < 16; j++) dst[o + j] = nearestInt(fr(iscale * scales[j]!)) & 0xff
      view.setUint16(o + 80, f32ToF16(fr(maxScale / 15)), true)
    }
    if (maxMin > 0) {
      const iscale = fr(15 / maxMin)
      for (let j = 0; j < 16; j++) dst[o + j] = (dst[o + j]! | (nearestInt(fr(iscale * mins[j]!)) << 4)) & 0xff
      view.setUint16(o + 82, f32ToF16(fr(maxMin / 15)), true)
    }
    const dAll = f16ToF32(view.getUint16(o + 80, true))
    const mAll = f16ToF32(view.getUint16(o + 82, true))
    for (let j = 0; j < 16; j++) {
      const d = fr(dAll * (dst[o + j]! & 15))
      if (d === 0) continue
      const dm = fr(mAll * (dst[o + j]! >> 4))
      for (let i = 0; i < 16; i++) L[16 * j + i] = Math.max(0, Math.min(3, nearestInt(fr(fr(src[x0 + 16 * j + i]! + dm) / d))))
    }
    for (let j = 0; j < QK_K; j += 128) {
      for (let l = 0; l < 32; l++) {
        dst[o + 16 + j / 4 + l] = L[j + l]! | (L[j + l + 32]! << 2) | (L[j + l + 64]! << 4) | (L[j + l + 96]! << 6)
      }
    }
  }
  return dst
}

export function dequantizeRef (src: Uint8Array, n: number, dst: Float32Array = new Float32Array(n)): Float32Array {
  const view = new DataView(src.buffer, src.byteOffset, src.byteLength)
  for (let b = 0; b < n / BLOCK; b++) {
    const o = b * BYTES
    const d = f16ToF32(view.getUint16(o + 80, true))
    const min = f16ToF32(view.getUint16(o + 82, true))
    for (let s = 0; s < 16; s++) {
      const sc = src[o + s]!
      const dl = fr(d * (sc & 15))
      const ml = fr(min * (sc >> 4))
      const half = s >> 3 // 128 values per half
      const k = (s >> 1) & 3 // bit pair within the byte
      const l0 = (s & 1) * 16
      for (let l = 0; l < 16; l++) {
        const q = (src[o + 16 + 32 * half + l0 + l]! >> (2 * k)) & 3
        dst[b * BLOCK + 16 * s + l] = fr(fr(dl * q) - ml)
      }
    }
  }
  return dst
}

/**
 * Q6_K, byte-identical to GGUF/ggml's block_q6_K: super-blocks of 256 values in 16 sub-blocks of 16.
 * Bytes: 128 `ql` (low 4 bits), 64 `qh` (high 2 bits), 16 int8 sub-block scales, f16 `d`. In each
 * half of 128 values (ql 64 bytes, qh 32 bytes from the half's start), value l, l + 32, l + 64,
 * l + 96 (l < 32) take the low nibbles of ql[l], ql[l + 32], then their high nibbles, and bits
 * 0-1, 2-3, 4-5, 6-7 of qh[l]. value = d * scale[s] * (q - 32).
 */
import { f16ToF32, f32ToF16 } from './f16.ts'
import { GROUP_MAX_EPS, QK_K, fr, makeQxQuants, nearestInt } from './kquant.ts'

export const BLOCK = QK_K
export const BYTES = 210

export function quantizeRef (src: Float32Array, dst = new Uint8Array((src.length / BLOCK) * BYTES)): Uint8Array {
  const view = new DataView(dst.buffer, dst.byteOffset, dst.byteLength)
  const L = new Uint8Array(QK_K)
  const scales = new Float32Array(16)
  for (let b = 0; b < src.length / BLOCK; b++) {
    const x0 = b * BLOCK
    const o = b * BYTES
    let maxScale = 0
    let maxAbsScale = 0
    for (let ib = 0; ib < 16; ib++) {
      const scale = makeQxQuants(16, 32, src, x0 + 16 * ib, L, 16 * ib)
      scales[ib] = scale
      if (Math.abs(scale) > maxAbsScale) { maxAbsScale = Math.abs(scale); maxScale = scale }
    }
    dst.fill(0, o, o + BYTES)
    if (maxAbsScale < GROUP_MAX_EPS) continue // d = 0, all zero
    const iscale = fr(-128 / maxScale)
    view.setUint16(o + 208, f32ToF16(fr(1 / iscale)), true)
    for (let ib = 0; ib < 16; ib++) view.setInt8(o + 192 + ib, Math.min(127, nearestInt(fr(iscale * scales[ib]!))))
    const dAll = f16ToF32(view.getUint16(o + 208, true))
    for (let j = 0; j < 16; j++) {
      const d = fr(dAll * view.getInt8(o + 192 + j))
      if (d === 0) continue
      for (let i = 0; i < 16; i++) {
        L[16 * j + i] = Math.max(-32, Math.min(31, nearestInt(fr(src[x0 + 16 * j + i]! / d)))) + 32
      }
    }
    for (let h = 0; h < 2; h++) {
      const ql = o + 64 * h
      const qh = o + 128 + 32 * h
      const j = 128 * h
      for (let l = 0; l < 32; l++) {
        const q1 = L[j + l]!; const q2 = L[j + l + 32]!; const q3 = L[j + l + 64]!; const q4 = L[j + l + 96]!
        dst[ql + l] = (q1 & 15) | ((q3 & 15) << 4)
        dst[ql + l + 32] = (q2 & 15) | ((q4 & 15) << 4)
        dst[qh + l] = (q1 >> 4) | ((q2 >> 4) << 2) | ((q3 >> 4) << 4) | ((q4 >> 4) << 6)
      }
    }
  }
  return dst
}

export function dequantizeRef (src: Uint8Array, n: number, dst: Float32Array = new Float32Array(n)): Float32Array {
  const view = new DataView(src.buffer, src.byteOffset, src.byteLength)
  for (let b = 0; b < n / BLOCK; b++) {
    const o = b * BYTES
    const d = f16ToF32(view.getUint16(o + 208, true))
    for (let h = 0; h < 2; h++) {
      const ql = o + 64 * h
      const qh = o + 128 + 32 * h
      const sc = o + 192 + 8 * h
      const y = b * BLOCK + 128 * h
      for (let l = 0; l < 32; l++) {
        const is = l >> 4
        const hb = src[qh + l]!
        const q1 = ((src[ql + l]! & 15) | ((hb & 3) << 4)) - 32
        const q2 = ((src[ql + l + 32]! & 15) | (((hb >> 2) & 3) << 4)) - 32
        const q3 = ((src[ql + l]! >> 4) | (((hb >> 4) & 3) << 4)) - 32
        const q4 = ((src[ql + l + 32]! >> 4) | (((hb >> 6) & 3) << 4)) - 32
        dst[y + l] = fr(fr(d * view.getInt8(sc + is)) * q1)
        dst[y + l + 32] = fr(fr(d * view.getInt8(sc + is + 2)) * q2)
        dst[y + l + 64] = fr(fr(d * view.getInt8(sc + is + 4)) * q3)
        dst[y + l + 96] = fr(fr(d * view.getInt8(sc + is + 6)) * q4)
      }
    }
  }
  return dst
}

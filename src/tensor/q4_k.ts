/**
 * Q4_K, byte-identical to GGUF/ggml's block_q4_K: super-blocks of 256 values in 8 sub-blocks of 32.
 * Bytes: f16 `d`, f16 `dmin`, 12 bytes of 6-bit sub-block scales and mins (kquant.ts scaleMinK4),
 * 128 bytes of nibbles: each 64 values j..j+63 take 32 bytes, value j + l in the low nibble of
 * byte l, j + 32 + l in its high nibble. value = d * scale[s] * q - dmin * min[s].
 */
import { f16ToF32, f32ToF16 } from './f16.ts'
import { QK_K, fr, kSubBlocks, nearestInt, packScaleMinK4, scaleMinK4 } from './kquant.ts'

export const BLOCK = QK_K
export const BYTES = 144

export function quantizeRef (src: Float32Array, dst = new Uint8Array((src.length / BLOCK) * BYTES)): Uint8Array {
  const view = new DataView(dst.buffer, dst.byteOffset, dst.byteLength)
  const L = new Uint8Array(QK_K)
  for (let b = 0; b < src.length / BLOCK; b++) {
    const x0 = b * BLOCK
    const o = b * BYTES
    const { scales, mins } = kSubBlocks(src, x0, 15, -1, 20, L)
    quantizeLevels(src, x0, scales, mins, 15, L, dst, view, o)
    for (let j = 0; j < QK_K; j += 64) {
      for (let l = 0; l < 32; l++) dst[o + 16 + j / 2 + l] = L[j + l]! | (L[j + l + 32]! << 4)
    }
  }
  return dst
}

/**
 * Shared by q4_k and q5_k: packs the sub-block scales and mins to 6 bits under f16 `d` and `dmin`
 * (written at o), then requantizes each value to [0, nmax] against the packed scales (into L).
 */
export function quantizeLevels (x: Float32Array, x0: number, scales: Float32Array, mins: Float32Array, nmax: number,
  L: Uint8Array, dst: Uint8Array, view: DataView, o: number): void {
  let maxScale = 0
  let maxMin = 0
  for (let j = 0; j < 8; j++) {
    if (scales[j]! > maxScale) maxScale = scales[j]!
    if (mins[j]! > maxMin) maxMin = mins[j]!
  }
  const invScale = maxScale > 0 ? fr(63 / maxScale) : 0
  const invMin = maxMin > 0 ? fr(63 / maxMin) : 0
  const ls = new Uint8Array(8)
  const lm = new Uint8Array(8)
  for (let j = 0; j < 8; j++) {
    ls[j] = Math.min(63, nearestInt(fr(invScale * scales[j]!)) & 0xff)
    lm[j] = Math.min(63, nearestInt(fr(invMin * mins[j]!)) & 0xff)
  }
  packScaleMinK4(ls, lm, dst, o + 4)
  view.setUint16(o, f32ToF16(fr(maxScale / 63)), true)
  view.setUint16(o + 2, f32ToF16(fr(maxMin / 63)), true)
  const dAll = f16ToF32(view.getUint16(o, true))
  const mAll = f16ToF32(view.getUint16(o + 2, true))
  for (let j = 0; j < 8; j++) {
    const [sc, m] = scaleMinK4(j, dst, o + 4)
    const d = fr(dAll * sc)
    if (d === 0) continue
    const dm = fr(mAll * m)
    for (let i = 0; i < 32; i++) {
      L[32 * j + i] = Math.max(0, Math.min(nmax, nearestInt(fr(fr(x[x0 + 32 * j + i]! + dm) / d))))
    }
  }
}

export function dequantizeRef (src: Uint8Array, n: number, dst: Float32Array = new Float32Array(n)): Float32Array {
  const view = new DataView(src.buffer, src.byteOffset, src.byteLength)
  for (let b = 0; b < n / BLOCK; b++) {
    const o = b * BYTES
    const d = f16ToF32(view.getUint16(o, true))
    const min = f16ToF32(view.getUint16(o + 2, true))
    for (let j = 0; j < 4; j++) { // 64 values: sub-blocks 2j (low nibbles) and 2j + 1 (high)
      const [sc1, m1] = scaleMinK4(2 * j, src, o + 4)
      const [sc2, m2] = scaleMinK4(2 * j + 1, src, o + 4)
      const d1 = fr(d * sc1); const dm1 = fr(min * m1)
      const d2 = fr(d * sc2); const dm2 = fr(min * m2)
      const y = b * BLOCK + 64 * j
      for (let l = 0; l < 32; l++) {
        const q = src[o + 16 + 32 * j + l]!
        dst[y + l] = fr(fr(d1 * (q & 15)) - dm1)
        dst[y + 32 + l] = fr(fr(d2 * (q >> 4)) - dm2)
      }
    }
  }
  return dst
}

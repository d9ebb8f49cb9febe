/**
 * Q5_K, byte-identical to GGUF/ggml's block_q5_K: super-blocks of 256 values in 8 sub-blocks of 32.
 * Bytes: f16 `d`, f16 `dmin`, 12 bytes of 6-bit scales and mins (as q4_k), 32 bytes `qh` of fifth
 * bits, 128 bytes of nibbles (as q4_k). For the 64 values j..j+63 (j = 64c), value j + l has its
 * fifth bit at bit 2c of qh[l], value j + 32 + l at bit 2c + 1.
 * value = d * scale[s] * q - dmin * min[s].
 */
import { f16ToF32 } from './f16.ts'
import { QK_K, fr, kSubBlocks, scaleMinK4 } from './kquant.ts'
import { quantizeLevels } from './q4_k.ts'

export const BLOCK = QK_K
export const BYTES = 176

export function quantizeRef (src: Float32Array, dst = new Uint8Array((src.length / BLOCK) * BYTES)): Uint8Array {
  const view = new DataView(dst.buffer, dst.byteOffset, dst.byteLength)
  const L = new Uint8Array(QK_K)
  for (let b = 0; b < src.length / BLOCK; b++) {
    const x0 = b * BLOCK
    const o = b * BYTES
    const { scales, mins } = kSubBlocks(src, x0, 31, -0.5, 15, L)
    quantizeLevels(src, x0, scales, mins, 31, L, dst, view, o)
    dst.fill(0, o + 16, o + 48)
    for (let c = 0; c < 4; c++) {
      for (let l = 0; l < 32; l++) {
        const l1 = L[64 * c + l]!
        const l2 = L[64 * c + 32 + l]!
        if (l1 > 15) dst[o + 16 + l]! |= 1 << (2 * c)
        if (l2 > 15) dst[o + 16 + l]! |= 2 << (2 * c)
        dst[o + 48 + 32 * c + l] = (l1 & 15) | ((l2 & 15) << 4)
      }
    }
  }
  return dst
}

export function dequantizeRef (src: Uint8Array, n: number, dst: Float32Array = new Float32Array(n)): Float32Array {
  const view = new DataView(src.buffer, src.byteOffset, src.byteLength)
  for (let b = 0; b < n / BLOCK; b++) {
    const o = b * BYTES
    const d = f16ToF32(view.getUint16(o, true))
    const min = f16ToF32(view.getUint16(o + 2, true))
    for (let c = 0; c < 4; c++) {
      const [sc1, m1] = scaleMinK4(2 * c, src, o + 4)
      const [sc2, m2] = scaleMinK4(2 * c + 1, src, o + 4)
      const d1 = fr(d * sc1); const dm1 = fr(min * m1)
      const d2 = fr(d * sc2); const dm2 = fr(min * m2)
      const y = b * BLOCK + 64 * c
      for (let l = 0; l < 32; l++) {
        const q = src[o + 48 + 32 * c + l]!
        const h = src[o + 16 + l]! >> (2 * c)
        dst[y + l] = fr(fr(d1 * ((q & 15) + ((h & 1) << 4))) - dm1)
        dst[y + 32 + l] = fr(fr(d2 * ((q >> 4) + ((h & 2) << 3))) - dm2)
      }
    }
  }
  return dst
}

/**
 * Q3_K, byte-identical to GGUF/ggml's block_q3_K: super-blocks of 256 values in 16 sub-blocks of 16.
 * Bytes: 32 `hmask` (third bits: value i at bit i / 32 of hmask[i % 32]), 64 bytes of 2-bit levels
 * (laid out as in q2_k), 12 bytes of 6-bit signed scales (low nibbles of bytes 0-7 for sub-blocks
 * 0-7, high nibbles for 8-15, the top two bits of sub-block s at bits 2(s/4) of byte 8 + s % 4),
 * f16 `d`. value = d * (scale[s] - 32) * (q - 4 if the third bit is clear, else q).
 */
import { f16ToF32, f32ToF16 } from './f16.ts'
import { GROUP_MAX_EPS, QK_K, fr, nearestInt } from './kquant.ts'

export const BLOCK = QK_K
export const BYTES = 110

/** ggml's make_q3_quants with do_rmse: levels in [-nmax, nmax - 1] (into L as level + nmax). */
function makeQ3Quants (n: number, nmax: number, x: Float32Array, x0: number, L: Int8Array, l0: number): number {
  let max = 0
  let amax = 0
  for (let i = 0; i < n; i++) {
    const ax = Math.abs(x[x0 + i]!)
    if (ax > amax) { amax = ax; max = x[x0 + i]! }
  }
  if (amax < GROUP_MAX_EPS) {
    for (let i = 0; i < n; i++) L[l0 + i] = 0
    return 0
  }
  const iscale = fr(-nmax / max)
  let sumlx = 0
  let suml2 = 0
  for (let i = 0; i < n; i++) {
    const v = x[x0 + i]!
    const l = Math.max(-nmax, Math.min(nmax - 1, nearestInt(fr(iscale * v))))
    L[l0 + i] = l
    const w = fr(v * v)
    sumlx = fr(sumlx + fr(fr(w * v) * l))
    suml2 = fr(suml2 + fr(fr(w * l) * l))
  }
  for (let itry = 0; itry < 5; itry++) {
    let changed = 0
    for (let i = 0; i < n; i++) {
      const v = x[x0 + i]!
      const w = fr(v * v)
      let slx = fr(sumlx - fr(fr(w * v) * L[l0 + i]!))
      if (slx > 0) {
        let sl2 = fr(suml2 - fr(fr(w * L[l0 + i]!) * L[l0 + i]!))
        const newL = Math.max(-nmax, Math.min(nmax - 1, nearestInt(fr(fr(v * sl2) / slx))))
        if (newL !== L[l0 + i]) {
          slx = fr(slx + fr(fr(w * v) * newL))
          sl2 = fr(sl2 + fr(fr(w * newL) * newL))
          if (sl2 > 0 && fr(fr(slx * slx) * suml2) > fr(fr(sumlx * sumlx) * sl2)) {
            L[l0 + i] = newL; sumlx = slx; suml2 = sl2
            changed++
          }
        }
      }
    }
    if (changed === 0) break
  }
  for (let i = 0; i < n; i++) L[l0 + i]! += nmax
  return suml2 > 0 ? fr(sumlx / suml2) : 0
}

/** Sub-block s's scale (6 bits, before the -32) from the 12 packed bytes at o. */
function scaleQ3 (s: number, q: Uint8Array, o: number): number {
  const low = s < 8 ? q[o + s]! & 15 : q[o + s - 8]! >> 4
  return low | (((q[o + 8 + (s % 4)]! >> (2 * (s >> 2))) & 3) << 4)
}

export function quantizeRef (src: Float32Array, dst = new Uint8Array((src.length / BLOCK) * BYTES)): Uint8Array {
  const view = new DataView(dst.buffer, dst.byteOffset, dst.byteLength)
  const L = new Int8Array(QK_K)
  const scales = new Float32Array(16)
  for (let b = 0; b < src.length / BLOCK; b++) {
    const x0 = b * BLOCK
    const o = b * BYTES
    let maxScale = 0
    let amax = 0
    for (let j = 0; j < 16; j++) {
      scales[j] = makeQ3Quants(16, 4, src, x0 + 16 * j, L, 16 * j)
      if (Math.abs(scales[j]!) > amax) { amax = Math.abs(scales[j]!); maxScale = scales[j]! }
    }
    dst.fill(0, o, o + BYTES)
    if (maxScale !== 0) {
      const iscale = fr(-32 / maxScale)
      for (let j = 0; j < 16; j++) {
        let l = (nearestInt(fr(iscale * scales[j]!)) << 24) >> 24 // int8_t
        l = Math.max(-32, Math.min(31, l)) + 32
        if (j < 8) dst[o + 96 + j] = l & 15
        else dst[o + 96 + j - 8]! |= (l & 15) << 4
        dst[o + 96 + 8 + (j % 4)]! |= (l >> 4) << (2 * (j >> 2))
      }
      view.setUint16(o + 108, f32ToF16(fr(1 / iscale)), true)
    }
    const dAll = f16ToF32(view.getUint16(o + 108, true))
    for (let j = 0; j < 16; j++) {
      const d = fr(dAll * (scaleQ3(j, dst, o + 96) - 32))
      if (d === 0) continue
      for (let i = 0; i < 16; i++) L[16 * j + i] = Math.max(-4, Math.min(3, nearestInt(fr(src[x0 + 16 * j + i]! / d)))) + 4
    }
    for (let j = 0; j < QK_K; j++) {
      if (L[j]! > 3) { dst[o + (j % 32)]! |= 1 << (j >> 5); L[j]! -= 4 }
    }
    for (let j = 0; j < QK_K; j += 128) {
      for (let l = 0; l < 32; l++) {
        dst[o + 32 + j / 4 + l] = L[j + l]! | (L[j + l + 32]! << 2) | (L[j + l + 64]! << 4) | (L[j + l + 96]! << 6)
      }
    }
  }
  return dst
}

export function dequantizeRef (src: Uint8Array, n: number, dst: Float32Array = new Float32Array(n)): Float32Array {
  const view = new DataView(src.buffer, src.byteOffset, src.byteLength)
  for (let b = 0; b < n / BLOCK; b++) {
    const o = b * BYTES
    const d = f16ToF32(view.getUint16(o + 108, true))
    for (let s = 0; s < 16; s++) {
      const dl = fr(d * (scaleQ3(s, src, o + 96) - 32))
      const half = s >> 3
      const k = (s >> 1) & 3
      const l0 = (s & 1) * 16
      for (let l = 0; l < 16; l++) {
        const i = 128 * half + 32 * k + l0 + l // the value's index in the super-block
        const q = (src[o + 32 + 32 * half + l0 + l]! >> (2 * k)) & 3
        const hbit = (src[o + (i % 32)]! >> (i >> 5)) & 1
        dst[b * BLOCK + i] = fr(dl * (q - (hbit !== 0 ? 0 : 4)))
      }
    }
  }
  return dst
}

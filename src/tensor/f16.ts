/**
 * IEEE half (f16) and bfloat16 conversions, bit-exact with ggml's reference
 * (round to nearest even; NaN stays NaN; overflow goes to infinity).
 */

const f32 = new Float32Array(1)
const u32 = new Uint32Array(f32.buffer)

/** f16 bits → f32 value, through a 64K-entry table built once. */
const F16_TABLE: Float32Array = (() => {
  const t = new Float32Array(65536)
  for (let h = 0; h < 65536; h++) {
    const sign = (h & 0x8000) << 16
    const exp = (h >> 10) & 0x1f
    const mant = h & 0x3ff
    if (exp === 0) {
      // zero or subnormal: mant * 2^-24
      t[h] = (sign !== 0 ? -1 : 1) * mant * 2 ** -24
    } else if (exp === 31) {
      u32[0] = sign | 0x7f800000 | (mant << 13)
      t[h] = f32[0]!
    } else {
      u32[0] = sign | ((exp + 112) << 23) | (mant << 13)
      t[h] = f32[0]!
    }
  }
  return t
})()

export function f16ToF32 (h: number): number {
  return F16_TABLE[h & 0xffff]!
}

/** f32 value → f16 bits, round to nearest even. */
export function f32ToF16 (value: number): number {
  f32[0] = value
  const x = u32[0]!
  const sign = (x >>> 16) & 0x8000
  const exp = (x >>> 23) & 0xff
  let mant = x & 0x7fffff
  if (exp === 0xff) return sign | 0x7c00 | (mant !== 0 ? 0x200 | (mant >>> 13) : 0) // inf / nan
  let e = exp - 127 + 15
  if (e >= 31) return sign | 0x7c00 // overflow → inf
  if (e <= 0) {
    // subnormal half (or zero)
    if (e < -10) return sign
    mant |= 0x800000
    const shift = 14 - e
    const half = 1 << (shift - 1)
    const rest = mant & ((1 << shift) - 1)
    let h = mant >>> shift
    if (rest > half || (rest === half && (h & 1) !== 0)) h++
    return sign | h
  }
  let h = (e << 10) | (mant >>> 13)
  const rest = mant & 0x1fff
  if (rest > 0x1000 || (rest === 0x1000 && (h & 1) !== 0)) h++ // may carry into the exponent: still correct
  return sign | h
}

export function bf16ToF32 (b: number): number {
  u32[0] = (b & 0xffff) << 16
  return f32[0]!
}

/** f32 value → bf16 bits, round to nearest even (as ggml's GGML_FP32_TO_BF16). */
export function f32ToBf16 (value: number): number {
  f32[0] = value
  const x = u32[0]!
  if ((x & 0x7fffffff) > 0x7f800000) return ((x >>> 16) | 64) & 0xffff // quiet NaN
  return ((x + (0x7fff + ((x >>> 16) & 1))) >>> 16) & 0xffff
}

/** Rounds every value of `src` through f16 and back (what an f16 hop on the wire does to activations). */
export function roundTripF16 (src: Float32Array): Float32Array {
  const out = new Float32Array(src.length)
  for (let i = 0; i < src.length; i++) out[i] = F16_TABLE[f32ToF16(src[i]!)]!
  return out
}

export function encodeF16 (src: Float32Array): Uint16Array {
  const out = new Uint16Array(src.length)
  for (let i = 0; i < src.length; i++) out[i] = f32ToF16(src[i]!)
  return out
}

export function decodeF16 (src: Uint16Array, out: Float32Array = new Float32Array(src.length)): Float32Array {
  for (let i = 0; i < src.length; i++) out[i] = F16_TABLE[src[i]!]!
  return out
}

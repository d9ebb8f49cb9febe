// Integer dot products of one block of 32 weights against one block of quantized activations
// (act.ts), shared by the format files. Every function returns an i32x4 whose lanes add up to the
// exact Σ w·q of the block; the lanes themselves depend on the layout, so callers reduce them to
// exact sums (reduce4) before any float arithmetic. Baseline and relaxed-dot builds therefore give
// bit-identical results.
//
// ACT_I16: the weights as four int16x8 vectors in the activations' order [odd of 0..15, even of
// 0..15, odd of 16..31, even of 16..31]. ACT_I8 (RELAXED_DOT builds): the weights as two int8x16
// vectors in natural order, every lane in [0, 127] (relaxed_dot's deterministic range).

/** Σ of the four int16x8 weight vectors against the ACT_I16 block at a. */
@inline export function dotI16 (w0: v128, w1: v128, w2: v128, w3: v128, a: usize): v128 {
  let p = i32x4.dot_i16x8_s(w0, v128.load(a))
  p = i32x4.add(p, i32x4.dot_i16x8_s(w1, v128.load(a, 16)))
  p = i32x4.add(p, i32x4.dot_i16x8_s(w2, v128.load(a, 32)))
  return i32x4.add(p, i32x4.dot_i16x8_s(w3, v128.load(a, 48)))
}

/** Σ of two int8x16 weight vectors (lanes in [0, 127]) against the ACT_I8 block at a. */
@inline export function dotI8 (lo: v128, hi: v128, a: usize): v128 {
  if (RELAXED_DOT) return i32x4.relaxed_dot_i8x16_i7x16_add_s(v128.load(a, 16), hi, i32x4.relaxed_dot_i8x16_i7x16_add_s(v128.load(a), lo, i32x4.splat(0)))
  // not reached in baseline builds (they use ACT_I16); kept valid for the compiler
  const x0 = v128.load(a); const x1 = v128.load(a, 16)
  return i32x4.add(
    i32x4.add(i32x4.extadd_pairwise_i16x8_s(i16x8.extmul_low_i8x16_s(x0, lo)), i32x4.extadd_pairwise_i16x8_s(i16x8.extmul_high_i8x16_s(x0, lo))),
    i32x4.add(i32x4.extadd_pairwise_i16x8_s(i16x8.extmul_low_i8x16_s(x1, hi)), i32x4.extadd_pairwise_i16x8_s(i16x8.extmul_high_i8x16_s(x1, hi))))
}

/** Σ of one int8x16 weight vector (lanes in [0, 127]) against 16 ACT_I8 values at a. */
@inline export function dot16I8 (w: v128, a: usize): v128 {
  if (RELAXED_DOT) return i32x4.relaxed_dot_i8x16_i7x16_add_s(v128.load(a), w, i32x4.splat(0))
  const x = v128.load(a)
  return i32x4.add(i32x4.extadd_pairwise_i16x8_s(i16x8.extmul_low_i8x16_s(x, w)), i32x4.extadd_pairwise_i16x8_s(i16x8.extmul_high_i8x16_s(x, w)))
}

/** [Σ p0, Σ p1, Σ p2, Σ p3] */
@inline export function reduce4 (p0: v128, p1: v128, p2: v128, p3: v128): v128 {
  const t0 = i32x4.add(v128.shuffle<i32>(p0, p1, 0, 4, 1, 5), v128.shuffle<i32>(p0, p1, 2, 6, 3, 7)) // p0 p1 p0 p1
  const t1 = i32x4.add(v128.shuffle<i32>(p2, p3, 0, 4, 1, 5), v128.shuffle<i32>(p2, p3, 2, 6, 3, 7)) // p2 p3 p2 p3
  return i32x4.add(v128.shuffle<i32>(t0, t1, 0, 1, 4, 5), v128.shuffle<i32>(t0, t1, 2, 3, 6, 7))
}

/** [Σ p0, Σ p1, Σ p0, Σ p1] */
@inline export function reduce2 (p0: v128, p1: v128): v128 {
  const t = i32x4.add(v128.shuffle<i32>(p0, p1, 0, 4, 1, 5), v128.shuffle<i32>(p0, p1, 2, 6, 3, 7)) // p0 p1 p0 p1
  return i32x4.add(t, v128.shuffle<i32>(t, t, 2, 3, 0, 1))
}

const LO16 = i16x8.splat(0x0f)
export const LO8 = i8x16.splat(0x0f)
const BYTE0 = i16x8.splat(0xff)

/** Q8_0 bytes (32 int8 at p) as ACT_I16 vectors, each value times 256. */
@inline export function q8I16 (p: usize, a: usize): v128 {
  const v = v128.load(p)
  const u = v128.load(p, 16)
  const hi = i16x8.splat(-256)
  return dotI16(v128.and(v, hi), i16x8.shl(v, 8), v128.and(u, hi), i16x8.shl(u, 8), a)
}

/** 32 values as bytes (lo: values 0..15, hi: 16..31, each in [0, 255]) against the ACT_I16 block at a. */
@inline export function bytesI16 (lo: v128, hi: v128, a: usize): v128 {
  return dotI16(i16x8.shr_u(lo, 8), v128.and(lo, BYTE0), i16x8.shr_u(hi, 8), v128.and(hi, BYTE0), a)
}

/** 16 bytes of nibbles v (byte j: value j low, j + 16 high) against the ACT_I16 block at a (Q4_0). */
@inline export function nibbles4I16 (v: v128, a: usize): v128 {
  return dotI16(v128.and(i16x8.shr_u(v, 8), LO16), v128.and(v, LO16), i16x8.shr_u(v, 12), v128.and(i16x8.shr_u(v, 4), LO16), a)
}

/** Nibbles alone for ACT_I8 (Q4_0). */
@inline export function nibbles4I8 (v: v128, a: usize): v128 {
  return dotI8(v128.and(v, LO8), v128.and(i16x8.shr_u(v, 4), LO8), a)
}

/** The same nibbles for ACT_I8, plus fifth bits (lo, hi vectors of 16 or 0). */
@inline export function nibblesI8 (v: v128, hlo: v128, hhi: v128, a: usize): v128 {
  return dotI8(v128.or(v128.and(v, LO8), hlo), v128.or(v128.and(i16x8.shr_u(v, 4), LO8), hhi), a)
}

export const EVEN_BITS = i16x8(1, 4, 16, 64, 256, 1024, 4096, 16384) // bit 2k of lane k
export const ODD_BITS = i16x8(2, 8, 32, 128, 512, 2048, 8192, -32768) // bit 2k + 1
const SIXTEEN16 = i16x8.splat(16)

/** 16 where the lane's bit under `mask` is set, else 0 (int16 lanes of q, a splat of 16 bits of qh). */
@inline export function bits16 (q: v128, mask: v128): v128 {
  return v128.and(i16x8.eq(v128.and(q, mask), mask), SIXTEEN16)
}

const BYTE_BITS = i8x16(1, 2, 4, 8, 16, 32, 64, -128, 1, 2, 4, 8, 16, 32, 64, -128)
const SIXTEEN8 = i8x16.splat(16)

/** The fifth bits (qh in lane 0: bit j for value j) of values 0..15 (which = 0) or 16..31 as int8 lanes of 16 or 0. */
@inline export function fifthI8 (qh: v128, which: i32): v128 {
  const bytes = which == 0 ? v128.shuffle<u8>(qh, qh, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1)
    : v128.shuffle<u8>(qh, qh, 2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3)
  return v128.and(i8x16.eq(v128.and(bytes, BYTE_BITS), BYTE_BITS), SIXTEEN8)
}

// Q4_K and Q5_K: super-blocks of 256 values in 8 sub-blocks of 32 (one activation block each),
// value = d·sc[j]·q − dmin·m[j] with 6-bit sc, m. Planes: d,dmin | scales (12) | [Q5_K: qh (32)] | qs.
// Decode rows (one token), the GEMM unpacker, getRows. See src/tensor/q4_k.ts for the bytes.
import { ACT_I16, ACT_I8 } from './act'
import { Q5_K, plane } from './planes'
import { dotI16, dotI8, reduce2 } from './qdot'
import { sums4 } from './q-legacy'
import { f16ToF32, hsumI } from './simd'

const LO8 = i8x16.splat(0x0f)
const LO16 = i16x8.splat(0x0f)
const B16 = i16x8.splat(0x10)
const B8 = i8x16.splat(0x10)
/** swizzle indices of bytes 0 and 1 into int32 lanes 0 and 1 (indices from 0x80 give zeros, also after adding 2 per chunk) */
const SCALE_PAIR = i8x16(0, -128, -128, -128, 1, -128, -128, -128, -128, -128, -128, -128, -128, -128, -128, -128)

/** The 8 scales then 8 mins of a super-block (12 packed bytes at p; 16 are read) as bytes. */
@inline function scalesMins (p: usize): v128 {
  const v = v128.load(p)
  const q = v128.shuffle<u8>(v, v, 0, 1, 2, 3, 8, 9, 10, 11, 4, 5, 6, 7, 8, 9, 10, 11)
  const low = v128.or(v128.and(q, i8x16(63, 63, 63, 63, 15, 15, 15, 15, 63, 63, 63, 63, 0, 0, 0, 0)),
    v128.and(i16x8.shr_u(q, 4), i8x16(0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 15, 15, 15, 15)))
  const h = v128.shuffle<u8>(v, i32x4.splat(0), 16, 16, 16, 16, 0, 1, 2, 3, 16, 16, 16, 16, 4, 5, 6, 7)
  return v128.or(low, v128.and(i16x8.shr_u(h, 2), i8x16(0, 0, 0, 0, 48, 48, 48, 48, 0, 0, 0, 0, 48, 48, 48, 48)))
}

/** Fifth bits (16 or 0) of qh vector h, bit s, for ACT_I16 even (low byte) and odd (high byte) lanes, and ACT_I8. */
@inline function bitEven (h: v128, s: i32): v128 { return v128.and(s <= 4 ? i16x8.shl(h, 4 - s) : i16x8.shr_u(h, s - 4), B16) }
@inline function bitOdd (h: v128, s: i32): v128 { return v128.and(i16x8.shr_u(h, 4 + s), B16) }
@inline function bitI8 (h: v128, s: i32): v128 { return v128.and(s <= 4 ? i16x8.shl(h, 4 - s) : i16x8.shr_u(h, s - 4), B8) }

/**
 * Exact Σ w·q of one sub-block of a chunk (hi = 0: the low nibbles of the chunk's 32 bytes v0, v1;
 * 1: the high ones) against the activation block at a; q5 adds the fifth bits, bit hi of each byte
 * of h0, h1 (qh shifted to the chunk by the caller).
 */
@inline function subSum (v0: v128, v1: v128, h0: v128, h1: v128, hi: i32, q5: bool, a: usize, layout: i32): v128 {
  const s = hi
  if (layout == ACT_I8) {
    let lo = v128.and(hi == 0 ? v0 : i16x8.shr_u(v0, 4), LO8)
    let up = v128.and(hi == 0 ? v1 : i16x8.shr_u(v1, 4), LO8)
    if (q5) { lo = v128.or(lo, bitI8(h0, s)); up = v128.or(up, bitI8(h1, s)) }
    return dotI8(lo, up, a)
  }
  let w0 = hi == 0 ? v128.and(i16x8.shr_u(v0, 8), LO16) : i16x8.shr_u(v0, 12) // odd of 0..15
  let w1 = v128.and(hi == 0 ? v0 : i16x8.shr_u(v0, 4), LO16) // even of 0..15
  let w2 = hi == 0 ? v128.and(i16x8.shr_u(v1, 8), LO16) : i16x8.shr_u(v1, 12)
  let w3 = v128.and(hi == 0 ? v1 : i16x8.shr_u(v1, 4), LO16)
  if (q5) {
    w0 = v128.or(w0, bitOdd(h0, s)); w1 = v128.or(w1, bitEven(h0, s))
    w2 = v128.or(w2, bitOdd(h1, s)); w3 = v128.or(w3, bitEven(h1, s))
  }
  return dotI16(w0, w1, w2, w3, a)
}

/** Bytes 0..3 (quarter 0), 4..7, 8..11 or 12..15 of sm as four int32. */
@inline function quarterI (sm: v128, k: i32): v128 {
  const w = k < 2 ? i16x8.extend_low_i8x16_u(sm) : i16x8.extend_high_i8x16_u(sm)
  return (k & 1) == 0 ? i32x4.extend_low_i16x8_u(w) : i32x4.extend_high_i16x8_u(w)
}

/**
 * out[r] for rows [r0, r1) against one token's activations (one scale per super-block, act.ts):
 * per super-block the integer Σ sc[j]·(Σ q·a over sub-block j) and Σ m[j]·(Σ a over it), exact,
 * then d·da times the first less dmin·da times the second.
 */
@inline function rows (q5: bool, out: usize, a: usize, da: usize, sq: usize, w: usize, inDim: i32, outDim: i32, r0: i32, r1: i32, layout: i32): void {
  const kind = q5 ? Q5_K : 12
  const nk = <usize>(inDim >> 8)
  const blocks = <usize>outDim * nk
  const sc = plane(w, kind, blocks, 1)
  const qhp = q5 ? plane(w, kind, blocks, 2) : 0
  const qs = plane(w, kind, blocks, q5 ? 3 : 2)
  const aStep: usize = layout == ACT_I8 ? 32 : 64
  for (let r = r0; r < r1; r++) {
    let acc: f32 = 0
    for (let k: usize = 0; k < nk; k++) {
      const g = <usize>r * nk + k
      const sm = scalesMins(sc + g * 12)
      const q = qs + (g << 7)
      const h0 = q5 ? v128.load(qhp + (g << 5)) : i32x4.splat(0)
      const h1 = q5 ? v128.load(qhp + (g << 5), 16) : i32x4.splat(0)
      const ab = a + (k << 3) * aStep
      // Σ sc[j]·(Σ q·a over sub-block j), one chunk (sub-blocks 2c, 2c + 1) per pass of a real loop:
      // unrolled, V8 computes all eight sub-blocks at once and spills most of them to the stack
      let t = i32x4.splat(0)
      let pick = SCALE_PAIR // sc[2c], sc[2c + 1] as int32 lanes 0 and 1, zeros above
      let hs0 = h0 // the fifth bits, shifted so that sub-block 2c's are bit 0 of each byte
      let hs1 = h1
      for (let c: usize = 0; c < 4; c++) {
        const v0 = v128.load(q + (c << 5)); const v1 = v128.load(q + (c << 5), 16)
        const ac = ab + (c << 1) * aStep
        const pair = reduce2(subSum(v0, v1, hs0, hs1, 0, q5, ac, layout), subSum(v0, v1, hs0, hs1, 1, q5, ac + aStep, layout))
        t = i32x4.add(t, i32x4.mul(pair, i8x16.swizzle(sm, pick)))
        pick = i8x16.add(pick, i8x16.splat(2))
        if (q5) { hs0 = i16x8.shr_u(hs0, 2); hs1 = i16x8.shr_u(hs1, 2) }
      }
      // the mins: Σ m[j]·(Σ q of the activations over sub-block j)
      const s = sq + (k << 6)
      const mins = i32x4.add(i32x4.mul(sums4(s), quarterI(sm, 2)), i32x4.mul(sums4(s + 32), quarterI(sm, 3)))
      const dact = load<f32>(da + (k << 5))
      acc += f16ToF32(load<u16>(w + (g << 2))) * dact * <f32>hsumI(t) - f16ToF32(load<u16>(w + (g << 2), 2)) * dact * <f32>hsumI(mins)
    }
    store<f32>(out + (<usize>r << 2), acc)
  }
}

export function rowsQ4_K (out: usize, a: usize, da: usize, sq: usize, w: usize, inDim: i32, outDim: i32, r0: i32, r1: i32, layout: i32): void {
  if (RELAXED_DOT && layout == ACT_I8) rows(false, out, a, da, sq, w, inDim, outDim, r0, r1, ACT_I8)
  else rows(false, out, a, da, sq, w, inDim, outDim, r0, r1, ACT_I16)
}
export function rowsQ5_K (out: usize, a: usize, da: usize, sq: usize, w: usize, inDim: i32, outDim: i32, r0: i32, r1: i32, layout: i32): void {
  if (RELAXED_DOT && layout == ACT_I8) rows(true, out, a, da, sq, w, inDim, outDim, r0, r1, ACT_I8)
  else rows(true, out, a, da, sq, w, inDim, outDim, r0, r1, ACT_I16)
}

/** GEMM tiles (see unpackLegacy): q as int16, scale d·sc[j], offset −dmin·m[j] per sub-block. */
export function unpackK45 (q5: bool, wt: usize, st: usize, ot: usize, w: usize, inDim: i32, outDim: i32, r: i32): void {
  const kind = q5 ? Q5_K : 12
  const nk = <usize>(inDim >> 8)
  const blocks = <usize>outDim * nk
  const scb = plane(w, kind, blocks, 1)
  const qhb = q5 ? plane(w, kind, blocks, 2) : 0
  const qsb = plane(w, kind, blocks, q5 ? 3 : 2)
  for (let j = 0; j < 4; j++) {
    for (let k: usize = 0; k < nk; k++) {
      const valid = r + j < outDim
      const g = <usize>(valid ? r + j : <i32>0) * nk + k
      const scp = scb + g * 12
      const d = f16ToF32(load<u16>(w + (g << 2)))
      const dmin = f16ToF32(load<u16>(w + (g << 2), 2))
      const q = qsb + (g << 7)
      const qh = qhb + (g << 5)
      const h0 = q5 ? v128.load(qh) : i32x4.splat(0)
      const h1 = q5 ? v128.load(qh, 16) : i32x4.splat(0)
      for (let s = 0; s < 8; s++) {
        const b = (k << 3) + <usize>s
        const t = wt + (b << 8) + (<usize>j << 6)
        const c = s >> 1
        const hi = s & 1
        const v0 = v128.load(q + (<usize>c << 5)); const v1 = v128.load(q + (<usize>c << 5), 16)
        let w0 = hi == 0 ? v128.and(i16x8.shr_u(v0, 8), LO16) : i16x8.shr_u(v0, 12)
        let w1 = v128.and(hi == 0 ? v0 : i16x8.shr_u(v0, 4), LO16)
        let w2 = hi == 0 ? v128.and(i16x8.shr_u(v1, 8), LO16) : i16x8.shr_u(v1, 12)
        let w3 = v128.and(hi == 0 ? v1 : i16x8.shr_u(v1, 4), LO16)
        if (q5) {
          w0 = v128.or(w0, bitOdd(h0, s)); w1 = v128.or(w1, bitEven(h0, s))
          w2 = v128.or(w2, bitOdd(h1, s)); w3 = v128.or(w3, bitEven(h1, s))
        }
        const zero = i32x4.splat(0)
        v128.store(t, valid ? w0 : zero); v128.store(t, valid ? w1 : zero, 16)
        v128.store(t, valid ? w2 : zero, 32); v128.store(t, valid ? w3 : zero, 48)
        const so = (b << 4) + (<usize>j << 2)
        store<f32>(st + so, valid ? d * <f32>scaleMin(scp, s, false) : 0)
        store<f32>(ot + so, valid ? -(dmin * <f32>scaleMin(scp, s, true)) : 0)
      }
    }
  }
}

/** Sub-block j's 6-bit scale (or min) from the 12 packed bytes at p (ggml's get_scale_min_k4). */
@inline function scaleMin (p: usize, j: i32, isMin: bool): i32 {
  const u = <usize>j
  if (j < 4) return <i32>load<u8>(p + u + (isMin ? 4 : 0)) & 63
  const b = <i32>load<u8>(p + u + 4)
  return isMin ? (b >> 4) | ((<i32>load<u8>(p + u) >> 6) << 4) : (b & 15) | ((<i32>load<u8>(p + u - 4) >> 6) << 4)
}

/** Row `id` of a Q4_K / Q5_K table as f32, exactly as the reference dequantizes it. */
export function rowK45 (q5: bool, o: usize, w: usize, rows: i32, id: usize, dim: i32): void {
  const kind = q5 ? Q5_K : 12
  const nk = <usize>(dim >> 8)
  const blocks = <usize>rows * nk
  const scb = plane(w, kind, blocks, 1)
  const qhb = q5 ? plane(w, kind, blocks, 2) : 0
  const qsb = plane(w, kind, blocks, q5 ? 3 : 2)
  for (let k: usize = 0; k < nk; k++) {
    const g = id * nk + k
    const scp = scb + g * 12
    const d = f16ToF32(load<u16>(w + (g << 2)))
    const dmin = f16ToF32(load<u16>(w + (g << 2), 2))
    const q = qsb + (g << 7)
    const qh = qhb + (g << 5)
    for (let s = 0; s < 8; s++) {
      const d1 = d * <f32>scaleMin(scp, s, false)
      const m1 = dmin * <f32>scaleMin(scp, s, true)
      const c = <usize>(s >> 1)
      const shift = (s & 1) << 2
      for (let l: usize = 0; l < 32; l++) {
        let v = (<i32>load<u8>(q + (c << 5) + l) >> shift) & 15
        if (q5) v |= ((<i32>load<u8>(qh + l) >> s) & 1) << 4
        store<f32>(o + (((k << 8) + (<usize>s << 5) + l) << 2), d1 * <f32>v - m1)
      }
    }
  }
}

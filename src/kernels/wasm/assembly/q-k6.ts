// Q6_K: super-blocks of 256 values in 16 sub-blocks of 16 with int8 scales, value = d·sc[s]·(q − 32),
// q in [0, 63]. Planes: ql (128) | qh (64) | scales (16) | d. In half h (128 values), activation
// block k (values 32k..32k+31 of the half, l < 32) takes the low nibbles of ql[l] (k = 0),
// ql[l + 32] (1), then their high nibbles (2, 3), with bits 2k..2k+1 of qh[l] on top. The two
// halves of an activation block have their own scales, so sums are taken per 16 values.
import { ACT_I16, ACT_I8 } from './act'
import { Q6_K, plane } from './planes'
import { dot16I8 } from './qdot'
import { PREFETCH_ROWS, f16ToF32, hsum, keep, madd, touch } from './simd'

const LO8 = i8x16.splat(0x0f)
const LO16 = i16x8.splat(0x0f)
const HI16 = i16x8.splat(0x30)
const HI8 = i8x16.splat(0x30)

/** Block k's q (ACT_I8, 16 values) from ql bytes `l` and qh bytes `h` (the same 16 positions). */
@inline function qI8 (l: v128, h: v128, k: i32): v128 {
  const low = v128.and(k < 2 ? l : i16x8.shr_u(l, 4), LO8)
  const top = k == 0 ? i16x8.shl(h, 4) : k == 1 ? i16x8.shl(h, 2) : k == 2 ? h : i16x8.shr_u(h, 2)
  return v128.or(low, v128.and(top, HI8))
}

/** Exact Σ q·a over 16 values (ACT_I16: the odd and even vectors at a, a + 16 of its half). */
@inline function half16 (l: v128, h: v128, k: i32, a: usize, layout: i32): v128 {
  if (layout == ACT_I8) return dot16I8(qI8(l, h, k), a)
  // low byte of each int16 lane: the even value, high byte: the odd one
  const shift = 2 * k
  const even = v128.or(v128.and(k < 2 ? l : i16x8.shr_u(l, 4), LO16), v128.and(shift <= 4 ? i16x8.shl(h, 4 - shift) : i16x8.shr_u(h, shift - 4), HI16))
  const odd = v128.or(k < 2 ? v128.and(i16x8.shr_u(l, 8), LO16) : i16x8.shr_u(l, 12), v128.and(i16x8.shr_u(h, 4 + shift), HI16))
  return i32x4.add(i32x4.dot_i16x8_s(odd, v128.load(a)), i32x4.dot_i16x8_s(even, v128.load(a, 16)))
}

/**
 * Activation block k of half h: acc += (Σ over its first 16 values of (q − 32)·a)·sc0 + (the same
 * over the last 16)·sc1, times d·da, lane by lane. (Lane j holds values 4j..4j+3 of each 16 in
 * either layout, so the sums are the same exact integers in every build.)
 */
@inline function group (l: v128, lh: v128, h0: v128, h1: v128, k: i32, ab: usize, s: usize, sc0: i32, sc1: i32, dda: f32, acc: v128, layout: i32): v128 {
  const second: usize = layout == ACT_I8 ? 16 : 32 // where the block's values 16..31 start
  const first = half16(l, h0, k, ab, layout)
  const rest = half16(lh, h1, k, ab + second, layout)
  const corr = (load<i32>(s) * sc0 + load<i32>(s, 4) * sc1) << 5 // 32 Σ q per half, scaled
  const t = i32x4.add(i32x4.mul(first, i32x4.splat(sc0)), i32x4.mul(rest, i32x4.splat(sc1)))
  return madd(f32x4.convert_i32x4_s(i32x4.sub(t, i32x4(corr, 0, 0, 0))), f32x4.splat(dda), acc)
}

@inline function rows (out: usize, a: usize, da: usize, sq: usize, w: usize, inDim: i32, outDim: i32, r0: i32, r1: i32, layout: i32): void {
  const nk = <usize>(inDim >> 8)
  const blocks = <usize>outDim * nk
  const qlp = w
  const qhp = plane(w, Q6_K, blocks, 1)
  const scp = plane(w, Q6_K, blocks, 2)
  const dp = plane(w, Q6_K, blocks, 3)
  const aStep: usize = layout == ACT_I8 ? 32 : 64
  let touched: i32 = 0
  for (let r = r0; r < r1; r++) {
    let acc = f32x4.splat(0)
    if (<usize>r + PREFETCH_ROWS < <usize>r1) { // a row ahead starts on its way from memory
      const ga = (<usize>r + PREFETCH_ROWS) * nk
      touched ^= touch(qlp + (ga << 7), nk << 7) ^ touch(qhp + (ga << 6), nk << 6)
    }
    for (let k: usize = 0; k < nk; k++) {
      const g = <usize>r * nk + k
      const d = f16ToF32(load<u16>(dp + (g << 1)))
      const sc = scp + (g << 4)
      for (let h = 0; h < 2; h++) {
        const ql = qlp + (g << 7) + (<usize>h << 6)
        const qh = qhp + (g << 6) + (<usize>h << 5)
        const h0 = v128.load(qh); const h1 = v128.load(qh, 16)
        const j = (k << 3) + (<usize>h << 2) // first activation block of the half
        const ab = a + j * aStep
        const s = sq + (j << 3)
        const dj = da + (j << 2)
        const sh = sc + (<usize>h << 3)
        const l0 = v128.load(ql); const l1 = v128.load(ql, 16)
        acc = group(l0, l1, h0, h1, 0, ab, s, load<i8>(sh), load<i8>(sh, 1), d * load<f32>(dj), acc, layout)
        const l2 = v128.load(ql, 32); const l3 = v128.load(ql, 48)
        acc = group(l2, l3, h0, h1, 1, ab + aStep, s + 8, load<i8>(sh, 2), load<i8>(sh, 3), d * load<f32>(dj, 4), acc, layout)
        acc = group(l0, l1, h0, h1, 2, ab + 2 * aStep, s + 16, load<i8>(sh, 4), load<i8>(sh, 5), d * load<f32>(dj, 8), acc, layout)
        acc = group(l2, l3, h0, h1, 3, ab + 3 * aStep, s + 24, load<i8>(sh, 6), load<i8>(sh, 7), d * load<f32>(dj, 12), acc, layout)
      }
    }
    store<f32>(out + (<usize>r << 2), hsum(acc))
  }
  keep(touched)
}

export function rowsQ6_K (out: usize, a: usize, da: usize, sq: usize, w: usize, inDim: i32, outDim: i32, r0: i32, r1: i32, layout: i32): void {
  if (RELAXED_DOT && layout == ACT_I8) rows(out, a, da, sq, w, inDim, outDim, r0, r1, ACT_I8)
  else rows(out, a, da, sq, w, inDim, outDim, r0, r1, ACT_I16)
}

/** q of value i (0..255) of super-block g (ql at w, qh plane at qhp). */
@inline function q6 (w: usize, qhp: usize, g: usize, i: i32): i32 {
  const h = <usize>(i >> 7)
  const k = (i >> 5) & 3
  const l = <usize>(i & 31)
  const ql = <i32>load<u8>(w + (g << 7) + (h << 6) + l + ((k & 1) != 0 ? 32 : 0))
  const qh = <i32>load<u8>(qhp + (g << 6) + (h << 5) + l)
  return ((k < 2 ? ql & 15 : ql >> 4) | (((qh >> (2 * k)) & 3) << 4))
}

/** The odd (odd = true) or even values' q of 16 (ql bytes l, qh bytes h) of block k, as int16. */
@inline function q16 (l: v128, h: v128, k: i32, odd: bool): v128 {
  const shift = 2 * k
  if (odd) return v128.or(k < 2 ? v128.and(i16x8.shr_u(l, 8), LO16) : i16x8.shr_u(l, 12), v128.and(i16x8.shr_u(h, 4 + shift), HI16))
  return v128.or(v128.and(k < 2 ? l : i16x8.shr_u(l, 4), LO16), v128.and(shift <= 4 ? i16x8.shl(h, 4 - shift) : i16x8.shr_u(h, shift - 4), HI16))
}

/** GEMM tiles (see unpackLegacy): (q − 32)·sc as int16, scale d, no offset. */
export function unpackK6 (wt: usize, st: usize, ot: usize, w: usize, inDim: i32, outDim: i32, r: i32): void {
  const nk = <usize>(inDim >> 8)
  const blocks = <usize>outDim * nk
  const qhb = plane(w, Q6_K, blocks, 1)
  const scb = plane(w, Q6_K, blocks, 2)
  const db = plane(w, Q6_K, blocks, 3)
  const z = i16x8.splat(32)
  for (let j = 0; j < 4; j++) {
    const valid = r + j < outDim
    for (let k: usize = 0; k < nk; k++) {
      const g = <usize>(valid ? r + j : <i32>0) * nk + k
      const d = f16ToF32(load<u16>(db + (g << 1)))
      const sc = scb + (g << 4)
      for (let h = 0; h < 2; h++) {
        const ql = w + (g << 7) + (<usize>h << 6)
        const qh = qhb + (g << 6) + (<usize>h << 5)
        const h0 = v128.load(qh); const h1 = v128.load(qh, 16)
        for (let c = 0; c < 4; c++) { // activation block 4h + c of the super-block
          const lo = v128.load(ql + ((c & 1) != 0 ? 32 : 0)); const hi = v128.load(ql + ((c & 1) != 0 ? 32 : 0), 16)
          const s0 = i16x8.splat(<i16>load<i8>(sc + <usize>(8 * h + 2 * c)))
          const s1 = i16x8.splat(<i16>load<i8>(sc + <usize>(8 * h + 2 * c + 1)))
          const b = (k << 3) + <usize>(4 * h + c)
          const t = wt + (b << 8) + (<usize>j << 6)
          const zero = i32x4.splat(0)
          v128.store(t, valid ? i16x8.mul(i16x8.sub(q16(lo, h0, c, true), z), s0) : zero)
          v128.store(t, valid ? i16x8.mul(i16x8.sub(q16(lo, h0, c, false), z), s0) : zero, 16)
          v128.store(t, valid ? i16x8.mul(i16x8.sub(q16(hi, h1, c, true), z), s1) : zero, 32)
          v128.store(t, valid ? i16x8.mul(i16x8.sub(q16(hi, h1, c, false), z), s1) : zero, 48)
          const so = (b << 4) + (<usize>j << 2)
          store<f32>(st + so, valid ? d : 0)
          store<f32>(ot + so, 0)
        }
      }
    }
  }
}

/** Row `id` of a Q6_K table as f32, exactly as the reference dequantizes it. */
export function rowK6 (o: usize, w: usize, rows: i32, id: usize, dim: i32): void {
  const nk = <usize>(dim >> 8)
  const blocks = <usize>rows * nk
  const qhp = plane(w, Q6_K, blocks, 1)
  for (let k: usize = 0; k < nk; k++) {
    const g = id * nk + k
    const d = f16ToF32(load<u16>(plane(w, Q6_K, blocks, 3) + (g << 1)))
    const sc = plane(w, Q6_K, blocks, 2) + (g << 4)
    for (let i = 0; i < 256; i++) {
      const ds = d * <f32>load<i8>(sc + <usize>(i >> 4))
      store<f32>(o + (((k << 8) + <usize>i) << 2), ds * <f32>(q6(w, qhp, g, i) - 32))
    }
  }
}

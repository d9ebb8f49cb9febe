// Q6_K: super-blocks of 256 values in 16 sub-blocks of 16 with int8 scales, value = d·sc[s]·(q − 32),
// q in [0, 63]. Planes: ql (128) | qh (64) | scales (16) | d. In half h (128 values), activation
// block k (values 32k..32k+31 of the half, l < 32) takes the low nibbles of ql[l] (k = 0),
// ql[l + 32] (1), then their high nibbles (2, 3), with bits 2k..2k+1 of qh[l] on top. The two
// halves of an activation block have their own scales, so sums are taken per 16 values.
import { ACT_I16, ACT_I8 } from './act'
import { Q6_K, plane } from './planes'
import { dot16I8 } from './qdot'
import { f16ToF32, hsumI } from './simd'

const LO8 = i8x16.splat(0x0f)
const LO16 = i16x8.splat(0x0f)
const HI16 = i16x8.splat(0x30)
const HI8 = i8x16.splat(0x30)
const BYTE0 = i16x8.splat(0xff)

/**
 * Σ q·a over 16 values whose low nibbles (nib = 0) or high nibbles (nib = 4) are in l and whose top
 * two bits are bits 0-1 of hk (qh already shifted), exact; lane j holds values 4j..4j+3 in either
 * layout, so every build adds the same integers.
 */
@inline function sum16 (l: v128, hk: v128, nib: i32, a: usize, layout: i32): v128 {
  // the 16 q as bytes (in place: each byte takes its own nibble and its own two bits of hk)
  const q = v128.or(v128.and(i16x8.shr_u(l, nib), LO8), v128.and(i16x8.shl(hk, 4), HI8))
  if (layout == ACT_I8) return dot16I8(q, a)
  const even = v128.and(q, BYTE0) // the low byte of each int16 lane
  const odd = i16x8.shr_u(q, 8)
  return i32x4.add(i32x4.dot_i16x8_s(odd, v128.load(a)), i32x4.dot_i16x8_s(even, v128.load(a, 16)))
}

/**
 * out[r] for rows [r0, r1) against one token's activations (one scale per super-block):
 * d·da·Σ over the 16 sub-blocks of sc·(Σ q·a − 32 Σ a), the sum exact in integers. One activation
 * block per loop step (a rolled loop keeps V8 from hoisting every block's work and spilling it).
 */
@inline function rows (out: usize, a: usize, da: usize, sq: usize, w: usize, inDim: i32, outDim: i32, r0: i32, r1: i32, layout: i32): void {
  const nk = <usize>(inDim >> 8)
  const blocks = <usize>outDim * nk
  const qlp = w
  const qhp = plane(w, Q6_K, blocks, 1)
  const scp = plane(w, Q6_K, blocks, 2)
  const dp = plane(w, Q6_K, blocks, 3)
  const aStep: usize = layout == ACT_I8 ? 32 : 64
  const second: usize = layout == ACT_I8 ? 16 : 32 // where a block's values 16..31 start
  for (let r = r0; r < r1; r++) {
    let acc: f32 = 0
    let ql = qlp + ((<usize>r * nk) << 7)
    let qh = qhp + ((<usize>r * nk) << 6)
    let sc = scp + ((<usize>r * nk) << 4)
    let ab = a
    let s = sq
    for (let k: usize = 0; k < nk; k++) {
      let t = i32x4.splat(0)
      let corr: i32 = 0
      for (let b = 0; b < 8; b++) { // activation block b: half b / 4, group b % 4
        const grp = b & 3
        const q = ql + (<usize>(grp & 1) << 5)
        const shift = 2 * grp
        const nib = (grp >> 1) << 2
        const sc0 = <i32>load<i8>(sc)
        const sc1 = <i32>load<i8>(sc, 1)
        const first = sum16(v128.load(q), i16x8.shr_u(v128.load(qh), shift), nib, ab, layout)
        const rest = sum16(v128.load(q, 16), i16x8.shr_u(v128.load(qh, 16), shift), nib, ab + second, layout)
        t = i32x4.add(t, i32x4.add(i32x4.mul(first, i32x4.splat(sc0)), i32x4.mul(rest, i32x4.splat(sc1))))
        corr += load<i32>(s) * sc0 + load<i32>(s, 4) * sc1
        ab += aStep; s += 8; sc += 2
        if (grp == 3) { ql += 64; qh += 32 }
      }
      acc += f16ToF32(load<u16>(dp + ((<usize>r * nk + k) << 1))) * load<f32>(da + (k << 5)) * <f32>(hsumI(t) - (corr << 5))
    }
    store<f32>(out + (<usize>r << 2), acc)
  }
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

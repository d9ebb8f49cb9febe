// The formats with blocks of 32 and one scale each: Q8_0 (value = d·q), Q4_0 (d·(q − 8)),
// Q5_0 (d·(q − 16)), Q5_1 (d·q + m). Planes (planes.ts): Q8_0 d | qs; Q4_0 d | qs;
// Q5_0 d | qh | qs; Q5_1 d,m | qh | qs. Decode rows (one token), the GEMM unpacker, getRows.
import { ACT_I16, ACT_I8 } from './act'
import { Q4_0, Q5_0, Q5_1, Q8_0, plane } from './planes'
import { LO8, ODD_BITS, EVEN_BITS, bits16, bytesI16, fifthI8, nibbles4I16, nibbles4I8, nibblesI8, q8I16, reduce2 } from './qdot'
import { f16ToF32, f16x4Finite, hsum, madd } from './simd'

/** Σ q of four blocks from their half-block sums at p. */
@inline export function sums4 (p: usize): v128 {
  const u = v128.load(p)
  const v = v128.load(p, 16)
  return i32x4.add(v128.shuffle<i32>(u, v, 0, 2, 4, 6), v128.shuffle<i32>(u, v, 1, 3, 5, 7))
}

/** The exact Σ w·q of block g (global block index; qsp, qhb: its planes) against the activation block at a. */
@inline function blockSum (kind: i32, qsp: usize, qhb: usize, g: usize, a: usize, layout: i32): v128 {
  if (kind == Q8_0) return q8I16(qsp + (g << 5), a)
  const v = v128.load(qsp + (g << 4))
  if (kind == Q4_0) return layout == ACT_I8 ? nibbles4I8(v, a) : nibbles4I16(v, a)
  const qh = v128.load32_zero(qhb + (g << 2))
  if (layout == ACT_I8) return nibblesI8(v, fifthI8(qh, 0), fifthI8(qh, 1), a)
  // the 32 values as bytes first, then split into ACT_I16's odd and even lanes (fewer steps than
  // spreading the fifth bits over int16 lanes: Q5_0 decode 204 -> 168 us per token for 1536 x 512)
  return bytesI16(v128.or(v128.and(v, LO8), fifthI8(qh, 0)), v128.or(v128.and(i16x8.shr_u(v, 4), LO8), fifthI8(qh, 1)), a)
}

/**
 * The f16 scales of the two blocks at sp as f32 in lanes 0 and 1, lanes 2 and 3 zero (with `one`,
 * the first block alone; Q5_1 keeps d and m interleaved: its d, or m with `second`). Scales are
 * finite: the backend refuses tensors whose scales are not.
 */
@inline function scales2 (kind: i32, sp: usize, second: bool, one: bool): v128 {
  if (kind != Q5_1) return f16x4Finite(one ? v128.load16_lane(sp, i32x4.splat(0), 0) : v128.load32_zero(sp))
  const v = one ? v128.load32_zero(sp) : v128.load64_zero(sp) // d m d m, then zeros
  return f16x4Finite(second ? v128.shuffle<u16>(v, v, 1, 3, 4, 4, 4, 4, 4, 4) : v128.shuffle<u16>(v, v, 0, 2, 4, 4, 4, 4, 4, 4))
}

/** Σ q of two blocks (the second zero with `one`) from their half-block sums at p: [s, s', s, s']. */
@inline function qsums2 (p: usize, one: bool): v128 {
  const u = one ? v128.load64_zero(p) : v128.load(p)
  return i32x4.add(v128.shuffle<i32>(u, u, 0, 2, 0, 2), v128.shuffle<i32>(u, u, 1, 3, 1, 3))
}

/** The two blocks at qp, hp (the first alone with `one`) against ap: [Σ, Σ', Σ, Σ'], exact sums less the zero point (s: qsums2). */
@inline function sums2 (kind: i32, qp: usize, hp: usize, ap: usize, s: v128, layout: i32, one: bool): v128 {
  const aStep: usize = layout == ACT_I8 ? 32 : 64
  let sum = reduce2(blockSum(kind, qp, hp, 0, ap, layout), one ? i32x4.splat(0) : blockSum(kind, qp, hp, 1, ap + aStep, layout))
  if (kind == Q4_0) sum = i32x4.sub(sum, i32x4.shl(s, 3))
  if (kind == Q5_0) sum = i32x4.sub(sum, i32x4.shl(s, 4))
  return sum
}

/**
 * out[r] for rows [r0, r1) against one token's activations (a: ACT_I16 or ACT_I8 per `layout`,
 * da scales, sq Σ q per half block): Σ over blocks of d·da·(Σ w·q − zero point·Σ q) (+ m·da·Σ q
 * for Q5_1). One row at a time, two blocks per step reduced to exact sums before any float math
 * (in lanes 0 and 1; lanes 2 and 3 get zero scales), pointers stepping along the planes. Kept
 * this plain on purpose (measured in V8): two rows per pass read two interleaved streams that the
 * hardware prefetcher follows poorly once the matrix comes from memory, four blocks per step make
 * V8 load every vector of the step first and spill most of them to the stack, and touching rows
 * ahead with loads (wasm has no prefetch) stalls the core; together they made Q8_0 decode about
 * half as fast. Every build adds the same exact integers in the same order.
 */
@inline function rows (kind: i32, out: usize, a: usize, da: usize, sq: usize, w: usize, inDim: i32, outDim: i32, r0: i32, r1: i32, layout: i32): void {
  const nb = <usize>(inDim >> 5)
  const blocks = <usize>outDim * nb
  const aStep: usize = layout == ACT_I8 ? 32 : 64
  const unscale = f32x4.splat(<f32>(1.0 / 256)) // Q8_0's sums come out 256 times too large
  const qsp = plane(w, kind, blocks, kind == Q8_0 || kind == Q4_0 ? 1 : 2)
  const qhb = plane(w, kind, blocks, 1)
  const qBytes: usize = kind == Q8_0 ? 32 : 16 // quants per block
  const sBytes: usize = kind == Q5_1 ? 4 : 2 // scales (and mins) per block
  const zero = i32x4.splat(0)
  for (let r = r0; r < r1; r++) {
    const g0 = <usize>r * nb
    let qp = qsp + g0 * qBytes
    let hp = qhb + (g0 << 2)
    let sp = w + g0 * sBytes
    let ap = a
    let dp = da
    let cp = sq
    let acc = f32x4.splat(0)
    let accm = f32x4.splat(0)
    for (let k = nb >> 1; k > 0; k--) {
      const s = kind == Q8_0 ? zero : qsums2(cp, false)
      const dact = kind == Q8_0 ? f32x4.mul(v128.load64_zero(dp), unscale) : v128.load64_zero(dp)
      acc = madd(f32x4.convert_i32x4_s(sums2(kind, qp, hp, ap, s, layout, false)), f32x4.mul(scales2(kind, sp, false, false), dact), acc)
      if (kind == Q5_1) accm = madd(scales2(kind, sp, true, false), f32x4.mul(dact, f32x4.convert_i32x4_s(s)), accm)
      qp += 2 * qBytes; hp += 8; sp += 2 * sBytes; ap += 2 * aStep; dp += 8; cp += 16
    }
    if (nb & 1) { // an odd last block
      const s = kind == Q8_0 ? zero : qsums2(cp, true)
      const dact = kind == Q8_0 ? f32x4.mul(v128.load32_zero(dp), unscale) : v128.load32_zero(dp)
      acc = madd(f32x4.convert_i32x4_s(sums2(kind, qp, hp, ap, s, layout, true)), f32x4.mul(scales2(kind, sp, false, true), dact), acc)
      if (kind == Q5_1) accm = madd(scales2(kind, sp, true, true), f32x4.mul(dact, f32x4.convert_i32x4_s(s)), accm)
    }
    store<f32>(out + (<usize>r << 2), kind == Q5_1 ? hsum(acc) + hsum(accm) : hsum(acc))
  }
}

export function rowsQ8_0 (out: usize, a: usize, da: usize, sq: usize, w: usize, inDim: i32, outDim: i32, r0: i32, r1: i32, layout: i32): void { rows(Q8_0, out, a, da, sq, w, inDim, outDim, r0, r1, ACT_I16) }
export function rowsQ4_0 (out: usize, a: usize, da: usize, sq: usize, w: usize, inDim: i32, outDim: i32, r0: i32, r1: i32, layout: i32): void {
  if (RELAXED_DOT && layout == ACT_I8) rows(Q4_0, out, a, da, sq, w, inDim, outDim, r0, r1, ACT_I8)
  else rows(Q4_0, out, a, da, sq, w, inDim, outDim, r0, r1, ACT_I16)
}
export function rowsQ5_0 (out: usize, a: usize, da: usize, sq: usize, w: usize, inDim: i32, outDim: i32, r0: i32, r1: i32, layout: i32): void {
  if (RELAXED_DOT && layout == ACT_I8) rows(Q5_0, out, a, da, sq, w, inDim, outDim, r0, r1, ACT_I8)
  else rows(Q5_0, out, a, da, sq, w, inDim, outDim, r0, r1, ACT_I16)
}
export function rowsQ5_1 (out: usize, a: usize, da: usize, sq: usize, w: usize, inDim: i32, outDim: i32, r0: i32, r1: i32, layout: i32): void {
  if (RELAXED_DOT && layout == ACT_I8) rows(Q5_1, out, a, da, sq, w, inDim, outDim, r0, r1, ACT_I8)
  else rows(Q5_1, out, a, da, sq, w, inDim, outDim, r0, r1, ACT_I16)
}

/**
 * GEMM tiles: rows [r, r + 4) as int16 weights with the zero point taken off, in ACT_I16 order,
 * into wt (nb, 4, 32), their scales into st (nb, 4) f32 and their offsets (Q5_1's m) into ot.
 * Rows at or past outDim come out as zeros.
 */
export function unpackLegacy (kind: i32, wt: usize, st: usize, ot: usize, w: usize, inDim: i32, outDim: i32, r: i32): void {
  const nb = <usize>(inDim >> 5)
  const blocks = <usize>outDim * nb
  const qsp = plane(w, kind, blocks, kind == Q8_0 || kind == Q4_0 ? 1 : 2)
  const qhp = plane(w, kind, blocks, 1)
  for (let j = 0; j < 4; j++) {
    for (let b: usize = 0; b < nb; b++) {
      const t = wt + (b << 8) + (<usize>j << 6)
      const so = (b << 4) + (<usize>j << 2)
      if (r + j >= outDim) {
        v128.store(t, i32x4.splat(0)); v128.store(t, i32x4.splat(0), 16); v128.store(t, i32x4.splat(0), 32); v128.store(t, i32x4.splat(0), 48)
        store<f32>(st + so, 0); store<f32>(ot + so, 0)
        continue
      }
      const g = <usize>(r + j) * nb + b
      if (kind == Q8_0) {
        const p = qsp + (g << 5)
        const v = v128.load(p); const u = v128.load(p, 16)
        v128.store(t, i16x8.shr_s(v, 8)); v128.store(t, i16x8.shr_s(i16x8.shl(v, 8), 8), 16)
        v128.store(t, i16x8.shr_s(u, 8), 32); v128.store(t, i16x8.shr_s(i16x8.shl(u, 8), 8), 48)
        store<f32>(st + so, f16ToF32(load<u16>(w + (g << 1))))
        store<f32>(ot + so, 0)
        continue
      }
      const v = v128.load(qsp + (g << 4))
      let h0 = i16x8.splat(0); let h1 = h0; let h2 = h0; let h3 = h0
      if (kind != Q4_0) {
        const qh = load<u32>(qhp + (g << 2))
        const lo = i16x8.splat(<i16>qh); const hi = i16x8.splat(<i16>(qh >> 16))
        h0 = bits16(lo, ODD_BITS); h1 = bits16(lo, EVEN_BITS); h2 = bits16(hi, ODD_BITS); h3 = bits16(hi, EVEN_BITS)
      }
      const z = i16x8.splat(kind == Q4_0 ? 8 : kind == Q5_0 ? 16 : 0)
      const m = i16x8.splat(0x0f)
      v128.store(t, i16x8.sub(v128.or(v128.and(i16x8.shr_u(v, 8), m), h0), z))
      v128.store(t, i16x8.sub(v128.or(v128.and(v, m), h1), z), 16)
      v128.store(t, i16x8.sub(v128.or(i16x8.shr_u(v, 12), h2), z), 32)
      v128.store(t, i16x8.sub(v128.or(v128.and(i16x8.shr_u(v, 4), m), h3), z), 48)
      if (kind == Q5_1) {
        store<f32>(st + so, f16ToF32(load<u16>(w + (g << 2))))
        store<f32>(ot + so, f16ToF32(load<u16>(w + (g << 2), 2)))
      } else {
        store<f32>(st + so, f16ToF32(load<u16>(w + (g << 1))))
        store<f32>(ot + so, 0)
      }
    }
  }
}

/** Row `id` of a table as f32 into o (dim values), exactly as the reference dequantizes it. */
export function rowLegacy (kind: i32, o: usize, w: usize, rows: i32, id: usize, dim: i32): void {
  const nb = <usize>(dim >> 5)
  const blocks = <usize>rows * nb
  const qsp = plane(w, kind, blocks, kind == Q8_0 || kind == Q4_0 ? 1 : 2)
  const qhp = plane(w, kind, blocks, 1)
  for (let b: usize = 0; b < nb; b++) {
    const g = id * nb + b
    const ob = o + (b << 7)
    if (kind == Q8_0) {
      const d = f16ToF32(load<u16>(w + (g << 1)))
      const p = qsp + (g << 5)
      for (let j: usize = 0; j < 32; j++) store<f32>(ob + (j << 2), d * <f32>load<i8>(p + j))
      continue
    }
    const d = f16ToF32(load<u16>(w + (g << (kind == Q5_1 ? 2 : 1))))
    const m: f32 = kind == Q5_1 ? f16ToF32(load<u16>(w + (g << 2), 2)) : 0
    const qh: u32 = kind == Q4_0 ? 0 : load<u32>(qhp + (g << 2))
    const p = qsp + (g << 4)
    const z: i32 = kind == Q4_0 ? 8 : kind == Q5_0 ? 16 : 0
    for (let j: usize = 0; j < 16; j++) {
      const q = <i32>load<u8>(p + j)
      const lo = ((q & 15) | <i32>(((qh >> <u32>j) & 1) << 4)) - z
      const hi = ((q >> 4) | <i32>(((qh >> <u32>(j + 16)) & 1) << 4)) - z
      store<f32>(ob + (j << 2), kind == Q5_1 ? d * <f32>lo + m : d * <f32>lo)
      store<f32>(ob + ((j + 16) << 2), kind == Q5_1 ? d * <f32>hi + m : d * <f32>hi)
    }
  }
}

// The formats with blocks of 32 and one scale each: Q8_0 (value = d·q), Q4_0 (d·(q − 8)),
// Q5_0 (d·(q − 16)), Q5_1 (d·q + m). Planes (planes.ts): Q8_0 d | qs; Q4_0 d | qs;
// Q5_0 d | qh | qs; Q5_1 d,m | qh | qs. Decode rows (one token), the GEMM unpacker, getRows.
import { ACT_I16, ACT_I8 } from './act'
import { Q4_0, Q5_0, Q5_1, Q8_0, plane } from './planes'
import { ODD_BITS, EVEN_BITS, bits16, fifthI8, nibblesI16, nibblesI8, q8I16, reduce4 } from './qdot'
import { PREFETCH_ROWS, f16ToF32, f16x4Finite, hsum, keep, madd, touch } from './simd'

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
  const z = i32x4.splat(0)
  if (kind == Q4_0) return layout == ACT_I8 ? nibblesI8(v, z, z, a) : nibblesI16(v, z, z, z, z, a)
  const qhp = qhb + (g << 2)
  if (layout == ACT_I8) {
    const qh = v128.load32_zero(qhp)
    return nibblesI8(v, fifthI8(qh, 0), fifthI8(qh, 1), a)
  }
  const qh = load<u32>(qhp)
  const lo = i16x8.splat(<i16>qh)
  const hi = i16x8.splat(<i16>(qh >> 16))
  return nibblesI16(v, bits16(lo, ODD_BITS), bits16(lo, EVEN_BITS), bits16(hi, ODD_BITS), bits16(hi, EVEN_BITS), a)
}

/**
 * Four f16 scales of blocks g..g+3 as f32 (Q5_1 keeps d and m interleaved: its d lanes, or m with
 * `second`). Scales are finite: the backend refuses tensors whose scales are not.
 */
@inline function scales4 (kind: i32, w: usize, g: usize, second: bool): v128 {
  if (kind != Q5_1) return f16x4Finite(v128.load64_zero(w + (g << 1)))
  const v = v128.load(w + (g << 2))
  return f16x4Finite(second ? v128.shuffle<u16>(v, v, 1, 3, 5, 7, 1, 3, 5, 7) : v128.shuffle<u16>(v, v, 0, 2, 4, 6, 0, 2, 4, 6))
}

/** One row's four blocks from b (g: the row's block index there): exact sums less the zero point. */
@inline function sums (kind: i32, qsp: usize, qhb: usize, g: usize, ab: usize, s: v128, layout: i32): v128 {
  const aStep: usize = layout == ACT_I8 ? 32 : 64
  let sum = reduce4(blockSum(kind, qsp, qhb, g, ab, layout), blockSum(kind, qsp, qhb, g + 1, ab + aStep, layout),
    blockSum(kind, qsp, qhb, g + 2, ab + 2 * aStep, layout), blockSum(kind, qsp, qhb, g + 3, ab + 3 * aStep, layout))
  if (kind == Q4_0) sum = i32x4.sub(sum, i32x4.shl(s, 3))
  if (kind == Q5_0) sum = i32x4.sub(sum, i32x4.shl(s, 4))
  return sum
}

/**
 * out[r] for rows [r0, r1) against one token's activations (a: ACT_I16 or ACT_I8 per `layout`,
 * da scales, sq Σ q per half block): Σ over blocks of d·da·(Σ w·q − zero point·Σ q) (+ m·da·Σ q
 * for Q5_1), blocks in fours reduced to exact sums first, two rows at a time (activation loads
 * shared). Every build adds the same exact integers in the same order.
 */
@inline function rows (kind: i32, out: usize, a: usize, da: usize, sq: usize, w: usize, inDim: i32, outDim: i32, r0: i32, r1: i32, layout: i32): void {
  const nb = <usize>(inDim >> 5)
  const nb4 = nb & ~(<usize>3)
  const blocks = <usize>outDim * nb
  const aStep: usize = layout == ACT_I8 ? 32 : 64
  const unscale = f32x4.splat(kind == Q8_0 ? <f32>(1.0 / 256) : 1)
  const qsp = plane(w, kind, blocks, kind == Q8_0 || kind == Q4_0 ? 1 : 2)
  const qhb = plane(w, kind, blocks, 1)
  let r = r0
  const rowBytes: usize = nb * (kind == Q8_0 ? 32 : 16)
  let touched: i32 = 0
  for (; r + 2 <= r1; r += 2) {
    const g0 = <usize>r * nb
    const g1 = g0 + nb
    // the quants (and fifth bits) of rows a few steps ahead start on their way from memory
    if (<usize>r + PREFETCH_ROWS + 2 <= <usize>r1) {
      touched ^= touch(qsp + (g0 + PREFETCH_ROWS * nb) * (rowBytes / nb), 2 * rowBytes)
      if (kind == Q5_0 || kind == Q5_1) touched ^= touch(qhb + ((g0 + PREFETCH_ROWS * nb) << 2), nb << 3)
    }
    let acc0 = f32x4.splat(0); let acc1 = f32x4.splat(0)
    let accm0 = f32x4.splat(0); let accm1 = f32x4.splat(0)
    for (let b: usize = 0; b < nb4; b += 4) {
      const ab = a + b * aStep
      const s = sums4(sq + (b << 3))
      const dact = f32x4.mul(v128.load(da + (b << 2)), unscale)
      acc0 = madd(f32x4.convert_i32x4_s(sums(kind, qsp, qhb, g0 + b, ab, s, layout)), f32x4.mul(scales4(kind, w, g0 + b, false), dact), acc0)
      acc1 = madd(f32x4.convert_i32x4_s(sums(kind, qsp, qhb, g1 + b, ab, s, layout)), f32x4.mul(scales4(kind, w, g1 + b, false), dact), acc1)
      if (kind == Q5_1) {
        const sa = f32x4.mul(dact, f32x4.convert_i32x4_s(s))
        accm0 = madd(scales4(kind, w, g0 + b, true), sa, accm0)
        accm1 = madd(scales4(kind, w, g1 + b, true), sa, accm1)
      }
    }
    if (nb4 < nb) {
      acc0 = tail(kind, qsp, qhb, w, g0, a, da, sq, nb4, nb, unscale, layout, acc0, false)
      acc1 = tail(kind, qsp, qhb, w, g1, a, da, sq, nb4, nb, unscale, layout, acc1, false)
      if (kind == Q5_1) {
        accm0 = tail(kind, qsp, qhb, w, g0, a, da, sq, nb4, nb, unscale, layout, accm0, true)
        accm1 = tail(kind, qsp, qhb, w, g1, a, da, sq, nb4, nb, unscale, layout, accm1, true)
      }
    }
    store<f32>(out + (<usize>r << 2), kind == Q5_1 ? hsum(acc0) + hsum(accm0) : hsum(acc0))
    store<f32>(out + (<usize>r << 2), kind == Q5_1 ? hsum(acc1) + hsum(accm1) : hsum(acc1), 4)
  }
  keep(touched)
  for (; r < r1; r++) {
    const g0 = <usize>r * nb
    let acc = f32x4.splat(0)
    let accm = f32x4.splat(0)
    for (let b: usize = 0; b < nb4; b += 4) {
      const s = sums4(sq + (b << 3))
      const dact = f32x4.mul(v128.load(da + (b << 2)), unscale)
      acc = madd(f32x4.convert_i32x4_s(sums(kind, qsp, qhb, g0 + b, a + b * aStep, s, layout)), f32x4.mul(scales4(kind, w, g0 + b, false), dact), acc)
      if (kind == Q5_1) accm = madd(scales4(kind, w, g0 + b, true), f32x4.mul(dact, f32x4.convert_i32x4_s(s)), accm)
    }
    if (nb4 < nb) {
      acc = tail(kind, qsp, qhb, w, g0, a, da, sq, nb4, nb, unscale, layout, acc, false)
      if (kind == Q5_1) accm = tail(kind, qsp, qhb, w, g0, a, da, sq, nb4, nb, unscale, layout, accm, true)
    }
    store<f32>(out + (<usize>r << 2), kind == Q5_1 ? hsum(acc) + hsum(accm) : hsum(acc))
  }
}

const LANES = i32x4(0, 1, 2, 3)

/**
 * The last nb − b (1..3) blocks of a row into acc, as the main loop does them (lanes past the end
 * zero); with `offsets`, Q5_1's m·da·Σ q instead.
 */
@inline function tail (kind: i32, qsp: usize, qhb: usize, w: usize, g0: usize, a: usize, da: usize, sq: usize, b: usize, nb: usize,
  unscale: v128, layout: i32, acc: v128, offsets: bool): v128 {
  const aStep: usize = layout == ACT_I8 ? 32 : 64
  const cnt = <i32>(nb - b)
  const ab = a + b * aStep
  const g = g0 + b
  const z = i32x4.splat(0)
  const valid = i32x4.lt_s(LANES, i32x4.splat(cnt))
  const s = v128.and(sums4(sq + (b << 3)), valid)
  const dact = v128.and(f32x4.mul(v128.load(da + (b << 2)), unscale), valid)
  // scales of the blocks present only: a lane past the row may hold anything
  const sc = v128.and(scalesTail(kind, w, g, cnt, offsets), valid)
  if (offsets) return madd(sc, f32x4.mul(dact, f32x4.convert_i32x4_s(s)), acc)
  let sum = reduce4(blockSum(kind, qsp, qhb, g, ab, layout), cnt > 1 ? blockSum(kind, qsp, qhb, g + 1, ab + aStep, layout) : z,
    cnt > 2 ? blockSum(kind, qsp, qhb, g + 2, ab + 2 * aStep, layout) : z, z)
  if (kind == Q4_0) sum = i32x4.sub(sum, i32x4.shl(s, 3))
  if (kind == Q5_0) sum = i32x4.sub(sum, i32x4.shl(s, 4))
  return madd(f32x4.convert_i32x4_s(sum), f32x4.mul(sc, dact), acc)
}

/** The scales (or Q5_1's mins) of the cnt < 4 blocks from g, one at a time (no read past the plane's end). */
@inline function scalesTail (kind: i32, w: usize, g: usize, cnt: i32, second: bool): v128 {
  const stride: usize = kind == Q5_1 ? 4 : 2
  const p = w + g * stride + (second ? 2 : 0)
  let v = f32x4.splat(f16ToF32(load<u16>(p)))
  if (cnt > 1) v = f32x4.replace_lane(v, 1, f16ToF32(load<u16>(p + stride)))
  if (cnt > 2) v = f32x4.replace_lane(v, 2, f16ToF32(load<u16>(p + 2 * stride)))
  return v
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

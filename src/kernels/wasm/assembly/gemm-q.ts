// Products with quantized weights: out (n, outDim) = x (n, inDim) · wᵀ, rows [r0, r1).
// Few tokens (decode): each format's fused row kernels, one token at a time (mvQ).
// Many tokens (prefill, gemmQ): rows in groups of 4 are unpacked once into int16 tiles (each
// format's unpacker: weights with zero points taken off, a scale and an offset per block of 32),
// then every token runs against the tile: 16 int16 dot products per block and token, reduced to
// the four rows' exact block sums, then scaled in f32. Activations: act.ts.
import { ACT_I8 } from './act'
import { Q4_0, Q4_K, Q5_0, Q5_1, Q5_K, Q6_K, Q8_0 } from './planes'
import { reduce4 } from './qdot'
import { rowLegacy, rowsQ4_0, rowsQ5_0, rowsQ5_1, rowsQ8_0, unpackLegacy } from './q-legacy'
import { rowK45, rowsQ4_K, rowsQ5_K, unpackK45 } from './q-k45'
import { rowK6, rowsQ6_K, unpackK6 } from './q-k6'
import { madd } from './simd'

/** Decode: tokens i < n one at a time over rows [r0, r1); xq in `layout`. */
export function mvQ (kind: i32, out: usize, xq: usize, xd: usize, xs: usize, w: usize, n: i32, inDim: i32, outDim: i32, layout: i32, r0: i32, r1: i32): void {
  const nb = <usize>(inDim >> 5)
  const rowBytes = <usize>inDim << (layout == ACT_I8 ? 0 : 1)
  for (let i: usize = 0; i < <usize>n; i++) {
    const o = out + ((i * <usize>outDim) << 2)
    const a = xq + i * rowBytes
    const da = xd + ((i * nb) << 2)
    const sq = xs + ((i * nb) << 3)
    switch (kind) {
      case Q8_0: rowsQ8_0(o, a, da, sq, w, inDim, outDim, r0, r1, layout); break
      case Q4_0: rowsQ4_0(o, a, da, sq, w, inDim, outDim, r0, r1, layout); break
      case Q5_0: rowsQ5_0(o, a, da, sq, w, inDim, outDim, r0, r1, layout); break
      case Q5_1: rowsQ5_1(o, a, da, sq, w, inDim, outDim, r0, r1, layout); break
      case Q4_K: rowsQ4_K(o, a, da, sq, w, inDim, outDim, r0, r1, layout); break
      case Q5_K: rowsQ5_K(o, a, da, sq, w, inDim, outDim, r0, r1, layout); break
      case Q6_K: rowsQ6_K(o, a, da, sq, w, inDim, outDim, r0, r1, layout); break
    }
  }
}

/**
 * One tile row's block (four int16x8 vectors at t) against the activation block a0..a3, summed in
 * a chain: V8 then keeps few vectors live, where a tree of sums made it load all 16 of the step's
 * tile vectors first and spill (measured: 10.7 -> 12.5 GMAC/s for the token loop, Q8_0, 1 thread).
 */
@inline function tileRow (a0: v128, a1: v128, a2: v128, a3: v128, t: usize): v128 {
  let p = i32x4.dot_i16x8_s(a0, v128.load(t))
  p = i32x4.add(p, i32x4.dot_i16x8_s(a1, v128.load(t, 16)))
  p = i32x4.add(p, i32x4.dot_i16x8_s(a2, v128.load(t, 32)))
  return i32x4.add(p, i32x4.dot_i16x8_s(a3, v128.load(t, 48)))
}

/** Scratch bytes gemmQ needs per thread for rows of inDim. */
export function gemmScratchBytes (inDim: i32): i32 {
  return (inDim >> 5) * (256 + 16 + 16)
}

/** Prefill: every token i < n over rows [r0, r1) in groups of 4; xq in ACT_I16; scratch per thread tid. */
export function gemmQ (kind: i32, out: usize, xq: usize, xd: usize, xs: usize, w: usize, n: i32, inDim: i32, outDim: i32, scratch: usize, r0: i32, r1: i32, tid: i32): void {
  const nb = <usize>(inDim >> 5)
  const wt = scratch + <usize>tid * <usize>gemmScratchBytes(inDim) // (nb, 4, 32) int16
  const st = wt + (nb << 8) // (nb, 4) f32 scales
  const ot = st + (nb << 4) // (nb, 4) f32 offsets
  const offsets = kind == Q5_1 || kind == Q4_K || kind == Q5_K
  for (let r = r0; r < r1; r += 4) {
    switch (kind) {
      case Q4_K: unpackK45(false, wt, st, ot, w, inDim, outDim, r); break
      case Q5_K: unpackK45(true, wt, st, ot, w, inDim, outDim, r); break
      case Q6_K: unpackK6(wt, st, ot, w, inDim, outDim, r); break
      default: unpackLegacy(kind, wt, st, ot, w, inDim, outDim, r)
    }
    if (offsets) tokens(true, out, xq, xd, xs, wt, st, ot, n, nb, outDim, r, min(4, r1 - r))
    else tokens(false, out, xq, xd, xs, wt, st, ot, n, nb, outDim, r, min(4, r1 - r))
  }
}

/** Every token i < n against the tile of rows [r, r + rows) (offsets: a compile-time constant after inlining, so the loop carries no branch). */
@inline function tokens (offsets: bool, out: usize, xq: usize, xd: usize, xs: usize, wt: usize, st: usize, ot: usize, n: i32, nb: usize, outDim: i32, r: i32, rows: i32): void {
  for (let i: usize = 0; i < <usize>n; i++) {
    const a = xq + ((i * nb) << 6)
    const da = xd + ((i * nb) << 2)
    const sq = xs + ((i * nb) << 3)
    let acc = f32x4.splat(0)
    let acco = f32x4.splat(0)
    for (let b: usize = 0; b < nb; b++) {
      const ab = a + (b << 6)
      const a0 = v128.load(ab); const a1 = v128.load(ab, 16); const a2 = v128.load(ab, 32); const a3 = v128.load(ab, 48)
      const t = wt + (b << 8)
      const p = reduce4(tileRow(a0, a1, a2, a3, t), tileRow(a0, a1, a2, a3, t + 64), tileRow(a0, a1, a2, a3, t + 128), tileRow(a0, a1, a2, a3, t + 192))
      const d = load<f32>(da + (b << 2))
      acc = madd(f32x4.convert_i32x4_s(p), f32x4.mul(v128.load(st + (b << 4)), f32x4.splat(d)), acc)
      if (offsets) {
        const s = load<i32>(sq + (b << 3)) + load<i32>(sq + (b << 3), 4)
        acco = madd(v128.load(ot + (b << 4)), f32x4.splat(d * <f32>s), acco)
      }
    }
    const v = offsets ? f32x4.add(acc, acco) : acc
    const o = out + ((i * <usize>outDim + <usize>r) << 2)
    if (rows == 4) { v128.store(o, v); continue }
    store<f32>(o, f32x4.extract_lane(v, 0))
    if (rows > 1) store<f32>(o, f32x4.extract_lane(v, 1), 4)
    if (rows > 2) store<f32>(o, f32x4.extract_lane(v, 2), 8)
  }
}

/** out[i] = row ids[i] of a quantized table (rows, dim) as f32, exactly as the reference dequantizes. */
export function getRowsQ (kind: i32, out: usize, table: usize, rows: i32, ids: usize, n: i32, dim: i32): void {
  for (let i = 0; i < n; i++) {
    const id = <usize>load<i32>(ids + (<usize>i << 2))
    const o = out + ((<usize>i * <usize>dim) << 2)
    switch (kind) {
      case Q4_K: rowK45(false, o, table, rows, id, dim); break
      case Q5_K: rowK45(true, o, table, rows, id, dim); break
      case Q6_K: rowK6(o, table, rows, id, dim); break
      default: rowLegacy(kind, o, table, rows, id, dim)
    }
  }
}

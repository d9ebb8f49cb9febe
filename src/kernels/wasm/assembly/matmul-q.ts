// Quantized weights against activations quantized to 8 bits per 32-block, with integer dot
// products (i32x4.dot_i16x8_s), as llama.cpp does. out[i][r] for tokens i < n, rows r in [r0, r1).
//
// Weights are GGUF Q8_0 / Q4_0 blocks of 32 repacked at load (packQ8 / packQ4, same bytes): a
// matrix (rows, nb blocks) becomes its f16 scales (rows, nb) followed by its quants (rows, nb, 32)
// int8 for Q8_0 or (rows, nb, 16) nibble bytes for Q4_0 (byte j: element j low, j + 16 high).
//
// Activations (quantizeActivations): xq (n, inDim) int16 in [-127, 127], xd (n, nb) f32 scales,
// xs (n, nb) int32 holding 2 Σ q per block (the Q4_0 offset correction). Within a block the
// values are stored as [odd of 0..15, even of 0..15, odd of 16..31, even of 16..31], so weights
// need no widening: read as int16 lanes, a Q8_0 byte pair (w[2k], w[2k+1]) gives w[2k+1]·256 by
// masking (& 0xff00) and w[2k]·256 by shifting (<< 8); Q4_0 nibbles come out by shifts and masks.
import { hsum, hsumI, f16ToF32, f16x4ToF32, madd } from './simd'

/** x (n, inDim) f32 → xq, xd, xs as above; inDim % 32 == 0. */
export function quantizeActivations (xq: usize, xd: usize, xs: usize, x: usize, n: i32, inDim: i32): void {
  const nBlocks = n * (inDim >> 5)
  for (let b = 0; b < nBlocks; b++) {
    const p = x + (<usize>b << 7)
    const v0 = v128.load(p); const v1 = v128.load(p, 16); const v2 = v128.load(p, 32); const v3 = v128.load(p, 48)
    const v4 = v128.load(p, 64); const v5 = v128.load(p, 80); const v6 = v128.load(p, 96); const v7 = v128.load(p, 112)
    let m = f32x4.max(f32x4.max(f32x4.max(f32x4.abs(v0), f32x4.abs(v1)), f32x4.max(f32x4.abs(v2), f32x4.abs(v3))),
      f32x4.max(f32x4.max(f32x4.abs(v4), f32x4.abs(v5)), f32x4.max(f32x4.abs(v6), f32x4.abs(v7))))
    m = f32x4.max(m, v128.shuffle<f32>(m, m, 2, 3, 0, 1))
    const amax = max(f32x4.extract_lane(m, 0), f32x4.extract_lane(m, 1))
    const d: f32 = amax / 127
    const id = f32x4.splat(d != 0 ? 1 / d : 0)
    store<f32>(xd + (<usize>b << 2), d)
    const n0 = i16x8.narrow_i32x4_s(qi(v0, id), qi(v1, id)) // elements 0..7
    const n1 = i16x8.narrow_i32x4_s(qi(v2, id), qi(v3, id))
    const n2 = i16x8.narrow_i32x4_s(qi(v4, id), qi(v5, id))
    const n3 = i16x8.narrow_i32x4_s(qi(v6, id), qi(v7, id))
    const q = xq + (<usize>b << 6)
    v128.store(q, v128.shuffle<i16>(n0, n1, 1, 3, 5, 7, 9, 11, 13, 15))
    v128.store(q, v128.shuffle<i16>(n0, n1, 0, 2, 4, 6, 8, 10, 12, 14), 16)
    v128.store(q, v128.shuffle<i16>(n2, n3, 1, 3, 5, 7, 9, 11, 13, 15), 32)
    v128.store(q, v128.shuffle<i16>(n2, n3, 0, 2, 4, 6, 8, 10, 12, 14), 48)
    const sum = i32x4.extadd_pairwise_i16x8_s(i16x8.add(i16x8.add(n0, n1), i16x8.add(n2, n3)))
    store<i32>(xs + (<usize>b << 2), 2 * hsumI(sum))
  }
}

@inline function qi (v: v128, id: v128): v128 {
  return i32x4.trunc_sat_f32x4_s(f32x4.nearest(f32x4.mul(v, id)))
}

/** GGUF blocks (rows × nb, `blockBytes` each: f16 scale, then `quantBytes`) → the packed layout. */
function pack (dst: usize, src: usize, rows: i32, nb: i32, blockBytes: usize, quantBytes: usize): void {
  const total = <usize>rows * <usize>nb
  const quants = dst + (total << 1)
  for (let b: usize = 0; b < total; b++) {
    const p = src + b * blockBytes
    store<u16>(dst + (b << 1), load<u16>(p))
    memory.copy(quants + b * quantBytes, p + 2, quantBytes)
  }
}

export function packQ8 (dst: usize, src: usize, rows: i32, nb: i32): void { pack(dst, src, rows, nb, 34, 32) }
export function packQ4 (dst: usize, src: usize, rows: i32, nb: i32): void { pack(dst, src, rows, nb, 18, 16) }

/** Four int16x8 weight vectors (in the activations' block order) against the block at a: i32x4 partial sums. */
@inline function dot4 (w0: v128, w1: v128, w2: v128, w3: v128, a: usize): v128 {
  return i32x4.add(
    i32x4.add(i32x4.dot_i16x8_s(w0, v128.load(a)), i32x4.dot_i16x8_s(w1, v128.load(a, 16))),
    i32x4.add(i32x4.dot_i16x8_s(w2, v128.load(a, 32)), i32x4.dot_i16x8_s(w3, v128.load(a, 48))))
}

/** acc += float(s) * scale */
@inline function fma (acc: v128, s: v128, scale: v128): v128 {
  return madd(f32x4.convert_i32x4_s(s), scale, acc)
}

@inline function lane0 (v: v128): v128 { return v128.shuffle<f32>(v, v, 0, 0, 0, 0) }
@inline function lane1 (v: v128): v128 { return v128.shuffle<f32>(v, v, 1, 1, 1, 1) }
@inline function lane2 (v: v128): v128 { return v128.shuffle<f32>(v, v, 2, 2, 2, 2) }
@inline function lane3 (v: v128): v128 { return v128.shuffle<f32>(v, v, 3, 3, 3, 3) }

// Q8_0: the sums come out 256 times too large; the scales take 1 / 256 (exact).
const Q8_UNSCALE: f32 = 1.0 / 256

@inline function blockQ8 (p: usize, a: usize): v128 {
  const v0 = v128.load(p)
  const v1 = v128.load(p, 16)
  const hi = i16x8.splat(-256)
  return dot4(v128.and(v0, hi), i16x8.shl(v0, 8), v128.and(v1, hi), i16x8.shl(v1, 8), a)
}

/** One packed Q8_0 row (quants q, scales d) against one quantized activation row (a, s). */
@inline function rowQ8 (q: usize, d: usize, a: usize, s: usize, nb: i32): f32 {
  let f0 = f32x4.splat(0)
  let f1 = f32x4.splat(0)
  let b = 0
  for (; b + 4 <= nb; b += 4) { // four blocks' scales at once
    const o = <usize>b << 2
    const sc = f32x4.mul(f32x4.mul(f16x4ToF32(v128.load64_zero(d + (<usize>b << 1))), v128.load(s + o)), f32x4.splat(Q8_UNSCALE))
    const p = q + (<usize>b << 5)
    const x = a + (<usize>b << 6)
    f0 = fma(f0, blockQ8(p, x), lane0(sc))
    f1 = fma(f1, blockQ8(p + 32, x + 64), lane1(sc))
    f0 = fma(f0, blockQ8(p + 64, x + 128), lane2(sc))
    f1 = fma(f1, blockQ8(p + 96, x + 192), lane3(sc))
  }
  for (; b < nb; b++) {
    const o = <usize>b << 2
    f0 = fma(f0, blockQ8(q + (<usize>b << 5), a + (<usize>b << 6)), f32x4.splat(f16ToF32(load<u16>(d + (<usize>b << 1))) * load<f32>(s + o) * Q8_UNSCALE))
  }
  return hsum(f32x4.add(f0, f1))
}

export function matmulQ8 (out: usize, xq: usize, xd: usize, xs: usize, w: usize, n: i32, inDim: i32, outDim: i32, r0: i32, r1: i32): void {
  const nb = inDim >> 5
  const ws = w // (outDim, nb) f16 scales
  const wq = w + ((<usize>outDim * <usize>nb) << 1) // (outDim, nb, 32) int8
  const xqRow = <usize>inDim << 1
  const xdRow = <usize>nb << 2
  const os = <usize>outDim << 2
  const hi = i16x8.splat(-256)
  let i = 0
  for (; i + 4 <= n; i += 4) { // four tokens share each unpacked weight block
    const a = xq + <usize>i * xqRow
    const s = xd + <usize>i * xdRow
    for (let r = r0; r < r1; r++) {
      const sr = ws + ((<usize>r * <usize>nb) << 1)
      const qr = wq + (<usize>r * <usize>nb << 5)
      let f0 = f32x4.splat(0); let f1 = f32x4.splat(0); let f2 = f32x4.splat(0); let f3 = f32x4.splat(0)
      for (let b = 0; b < nb; b++) {
        const p = qr + (<usize>b << 5)
        const v0 = v128.load(p); const v1 = v128.load(p, 16)
        const w0 = v128.and(v0, hi); const w1 = i16x8.shl(v0, 8); const w2 = v128.and(v1, hi); const w3 = i16x8.shl(v1, 8)
        const sb = s + (<usize>b << 2)
        const sc = f32x4.mul(f32x4.splat(f16ToF32(load<u16>(sr + (<usize>b << 1))) * Q8_UNSCALE),
          f32x4.replace_lane(f32x4.replace_lane(f32x4.replace_lane(f32x4.splat(load<f32>(sb)), 1, load<f32>(sb + xdRow)), 2, load<f32>(sb + 2 * xdRow)), 3, load<f32>(sb + 3 * xdRow)))
        const ab = a + (<usize>b << 6)
        f0 = fma(f0, dot4(w0, w1, w2, w3, ab), lane0(sc))
        f1 = fma(f1, dot4(w0, w1, w2, w3, ab + xqRow), lane1(sc))
        f2 = fma(f2, dot4(w0, w1, w2, w3, ab + 2 * xqRow), lane2(sc))
        f3 = fma(f3, dot4(w0, w1, w2, w3, ab + 3 * xqRow), lane3(sc))
      }
      const o = out + ((<usize>i * <usize>outDim + <usize>r) << 2)
      store<f32>(o, hsum(f0)); store<f32>(o + os, hsum(f1)); store<f32>(o + 2 * os, hsum(f2)); store<f32>(o + 3 * os, hsum(f3))
    }
  }
  for (; i < n; i++) {
    const a = xq + <usize>i * xqRow
    const s = xd + <usize>i * xdRow
    const o = out + ((<usize>i * <usize>outDim) << 2)
    for (let r = r0; r < r1; r++) store<f32>(o + (<usize>r << 2), rowQ8(wq + (<usize>r * <usize>nb << 5), ws + ((<usize>r * <usize>nb) << 1), a, s, nb))
  }
}

/** One Q4_0 block's nibbles (16 bytes at p) against the block at a, less the offset 8 Σ x (c = 2 Σ x per lane). */
@inline function blockQ4 (p: usize, a: usize, c: v128): v128 {
  const v = v128.load(p)
  const m = i16x8.splat(15)
  return i32x4.sub(dot4(v128.and(i16x8.shr_u(v, 8), m), v128.and(v, m), i16x8.shr_u(v, 12), v128.and(i16x8.shr_u(v, 4), m), a), c)
}

@inline function rowQ4 (q: usize, d: usize, a: usize, s: usize, c: usize, nb: i32): f32 {
  let f0 = f32x4.splat(0)
  let f1 = f32x4.splat(0)
  let b = 0
  for (; b + 4 <= nb; b += 4) {
    const o = <usize>b << 2
    const sc = f32x4.mul(f16x4ToF32(v128.load64_zero(d + (<usize>b << 1))), v128.load(s + o))
    const p = q + (<usize>b << 4)
    const x = a + (<usize>b << 6)
    const cb = c + o
    f0 = fma(f0, blockQ4(p, x, v128.load32_splat(cb)), lane0(sc))
    f1 = fma(f1, blockQ4(p + 16, x + 64, v128.load32_splat(cb, 4)), lane1(sc))
    f0 = fma(f0, blockQ4(p + 32, x + 128, v128.load32_splat(cb, 8)), lane2(sc))
    f1 = fma(f1, blockQ4(p + 48, x + 192, v128.load32_splat(cb, 12)), lane3(sc))
  }
  for (; b < nb; b++) {
    const o = <usize>b << 2
    f0 = fma(f0, blockQ4(q + (<usize>b << 4), a + (<usize>b << 6), v128.load32_splat(c + o)), f32x4.splat(f16ToF32(load<u16>(d + (<usize>b << 1))) * load<f32>(s + o)))
  }
  return hsum(f32x4.add(f0, f1))
}

export function matmulQ4 (out: usize, xq: usize, xd: usize, xs: usize, w: usize, n: i32, inDim: i32, outDim: i32, r0: i32, r1: i32): void {
  const nb = inDim >> 5
  const ws = w // (outDim, nb) f16 scales
  const wq = w + ((<usize>outDim * <usize>nb) << 1) // (outDim, nb, 16) nibble bytes
  const xqRow = <usize>inDim << 1
  const xdRow = <usize>nb << 2
  const os = <usize>outDim << 2
  const m = i16x8.splat(15)
  const e = i16x8.splat(8)
  let i = 0
  for (; i + 4 <= n; i += 4) {
    const a = xq + <usize>i * xqRow
    const s = xd + <usize>i * xdRow
    for (let r = r0; r < r1; r++) {
      const sr = ws + ((<usize>r * <usize>nb) << 1)
      const qr = wq + (<usize>r * <usize>nb << 4)
      let f0 = f32x4.splat(0); let f1 = f32x4.splat(0); let f2 = f32x4.splat(0); let f3 = f32x4.splat(0)
      for (let b = 0; b < nb; b++) {
        const v = v128.load(qr + (<usize>b << 4))
        // the offset 8 comes off the weights here, once for four tokens
        const w0 = i16x8.sub(v128.and(i16x8.shr_u(v, 8), m), e); const w1 = i16x8.sub(v128.and(v, m), e)
        const w2 = i16x8.sub(i16x8.shr_u(v, 12), e); const w3 = i16x8.sub(v128.and(i16x8.shr_u(v, 4), m), e)
        const o = <usize>b << 2
        const sb = s + o
        const sc = f32x4.mul(f32x4.splat(f16ToF32(load<u16>(sr + (<usize>b << 1)))),
          f32x4.replace_lane(f32x4.replace_lane(f32x4.replace_lane(f32x4.splat(load<f32>(sb)), 1, load<f32>(sb + xdRow)), 2, load<f32>(sb + 2 * xdRow)), 3, load<f32>(sb + 3 * xdRow)))
        const ab = a + (<usize>b << 6)
        f0 = fma(f0, dot4(w0, w1, w2, w3, ab), lane0(sc))
        f1 = fma(f1, dot4(w0, w1, w2, w3, ab + xqRow), lane1(sc))
        f2 = fma(f2, dot4(w0, w1, w2, w3, ab + 2 * xqRow), lane2(sc))
        f3 = fma(f3, dot4(w0, w1, w2, w3, ab + 3 * xqRow), lane3(sc))
      }
      const o = out + ((<usize>i * <usize>outDim + <usize>r) << 2)
      store<f32>(o, hsum(f0)); store<f32>(o + os, hsum(f1)); store<f32>(o + 2 * os, hsum(f2)); store<f32>(o + 3 * os, hsum(f3))
    }
  }
  for (; i < n; i++) {
    const a = xq + <usize>i * xqRow
    const s = xd + <usize>i * xdRow
    const c = xs + <usize>i * xdRow
    const o = out + ((<usize>i * <usize>outDim) << 2)
    for (let r = r0; r < r1; r++) store<f32>(o + (<usize>r << 2), rowQ4(wq + (<usize>r * <usize>nb << 4), ws + ((<usize>r * <usize>nb) << 1), a, s, c, nb))
  }
}

/** Rows ids[i] of a table into out (n, dim) as f32: kind 0 f32, 8 packed Q8_0, 2 packed Q4_0. */
export function getRows (out: usize, table: usize, rows: i32, ids: usize, n: i32, dim: i32, kind: i32): void {
  const nb = <usize>(dim >> 5)
  const quants = table + ((<usize>rows * nb) << 1)
  for (let i = 0; i < n; i++) {
    const id = <usize>load<i32>(ids + (<usize>i << 2))
    const o = out + ((<usize>i * <usize>dim) << 2)
    if (kind == 0) {
      memory.copy(o, table + ((id * <usize>dim) << 2), <usize>dim << 2)
      continue
    }
    for (let b: usize = 0; b < nb; b++) {
      const d = f16ToF32(load<u16>(table + ((id * nb + b) << 1)))
      const ob = o + (b << 7)
      if (kind == 8) {
        const p = quants + ((id * nb + b) << 5)
        for (let j: usize = 0; j < 32; j++) store<f32>(ob + (j << 2), d * <f32>load<i8>(p + j))
      } else {
        const p = quants + ((id * nb + b) << 4)
        for (let j: usize = 0; j < 16; j++) {
          const q = <i32>load<u8>(p + j)
          store<f32>(ob + (j << 2), d * <f32>((q & 15) - 8))
          store<f32>(ob + ((j + 16) << 2), d * <f32>((q >> 4) - 8))
        }
      }
    }
  }
}

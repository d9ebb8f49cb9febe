// Quantized weights against activations quantized to 8 bits per 32-block (an f32 scale and
// int16-stored values in [-127, 127]), with integer dot products (i32x4.dot_i16x8_s), as
// llama.cpp does. out[i][r] for tokens i < n, rows r in [r0, r1).
//
// Weights are GGUF Q8_0 / Q4_0 blocks of 32 repacked at load (packQ8 / packQ4, exact): a matrix
// (rows, nb blocks) becomes its scales as f32 (rows, nb) followed by its quants (rows, nb, 32)
// int8 for Q8_0 or (rows, nb, 16) nibble bytes for Q4_0 (byte j: element j low, j + 16 high).
// out (n, outDim), xq (n, inDim) i16, xd (n, inDim / 32) f32.
import { hsum, f16ToF32 } from './simd'

/** x (n, inDim) f32 → xq (n, inDim) i16 and xd (n, inDim / 32) f32 scales; inDim % 32 == 0. */
export function quantizeActivations (xq: usize, xd: usize, x: usize, n: i32, inDim: i32): void {
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
    const q = xq + (<usize>b << 6)
    v128.store(q, i16x8.narrow_i32x4_s(qi(v0, id), qi(v1, id)))
    v128.store(q, i16x8.narrow_i32x4_s(qi(v2, id), qi(v3, id)), 16)
    v128.store(q, i16x8.narrow_i32x4_s(qi(v4, id), qi(v5, id)), 32)
    v128.store(q, i16x8.narrow_i32x4_s(qi(v6, id), qi(v7, id)), 48)
  }
}

@inline function qi (v: v128, id: v128): v128 {
  return i32x4.trunc_sat_f32x4_s(f32x4.nearest(f32x4.mul(v, id)))
}

/** GGUF blocks (rows × nb, `blockBytes` each: f16 scale, then `quantBytes`) → the packed layout. */
function pack (dst: usize, src: usize, rows: i32, nb: i32, blockBytes: usize, quantBytes: usize): void {
  const total = <usize>rows * <usize>nb
  const quants = dst + (total << 2)
  for (let b: usize = 0; b < total; b++) {
    const p = src + b * blockBytes
    store<f32>(dst + (b << 2), f16ToF32(load<u16>(p)))
    memory.copy(quants + b * quantBytes, p + 2, quantBytes)
  }
}

export function packQ8 (dst: usize, src: usize, rows: i32, nb: i32): void { pack(dst, src, rows, nb, 34, 32) }
export function packQ4 (dst: usize, src: usize, rows: i32, nb: i32): void { pack(dst, src, rows, nb, 18, 16) }

/** One block's 32 weights as four int16x8 vectors, in element order. */
@inline function q8Lo (v: v128): v128 { return i16x8.extend_low_i8x16_s(v) }
@inline function q8Hi (v: v128): v128 { return i16x8.extend_high_i8x16_s(v) }

/** Σ_lanes of four int16x8 weight vectors against 32 int16 activations at a, as i32x4 partial sums. */
@inline function dot4 (w0: v128, w1: v128, w2: v128, w3: v128, a: usize): v128 {
  return i32x4.add(
    i32x4.add(i32x4.dot_i16x8_s(w0, v128.load(a)), i32x4.dot_i16x8_s(w1, v128.load(a, 16))),
    i32x4.add(i32x4.dot_i16x8_s(w2, v128.load(a, 32)), i32x4.dot_i16x8_s(w3, v128.load(a, 48))))
}

/** acc += float(s) * scale */
@inline function fma (acc: v128, s: v128, scale: f32): v128 {
  return f32x4.add(acc, f32x4.mul(f32x4.convert_i32x4_s(s), f32x4.splat(scale)))
}

// The Q8_0 and Q4_0 kernels differ only in how a block's 32 weights are unpacked; Q8 and Q4 below
// are written out twice rather than through a function pointer (which would not inline).

export function matmulQ8 (out: usize, xq: usize, xd: usize, w: usize, n: i32, inDim: i32, outDim: i32, r0: i32, r1: i32): void {
  const nb = inDim >> 5
  const ws = w // (outDim, nb) f32 scales
  const wq = w + ((<usize>outDim * <usize>nb) << 2) // (outDim, nb, 32) int8
  const xqRow = <usize>inDim << 1
  const xdRow = <usize>nb << 2
  const os = <usize>outDim << 2
  let i = 0
  for (; i + 4 <= n; i += 4) {
    const a = xq + <usize>i * xqRow
    const s = xd + <usize>i * xdRow
    for (let r = r0; r < r1; r++) {
      const sr = ws + <usize>r * xdRow
      const qr = wq + (<usize>r * <usize>nb << 5)
      let f0 = f32x4.splat(0); let f1 = f32x4.splat(0); let f2 = f32x4.splat(0); let f3 = f32x4.splat(0)
      for (let b = 0; b < nb; b++) {
        const p = qr + (<usize>b << 5)
        const v0 = v128.load(p); const v1 = v128.load(p, 16)
        const w0 = q8Lo(v0); const w1 = q8Hi(v0); const w2 = q8Lo(v1); const w3 = q8Hi(v1)
        const d = load<f32>(sr + (<usize>b << 2))
        const ab = a + (<usize>b << 6)
        const sb = s + (<usize>b << 2)
        f0 = fma(f0, dot4(w0, w1, w2, w3, ab), d * load<f32>(sb))
        f1 = fma(f1, dot4(w0, w1, w2, w3, ab + xqRow), d * load<f32>(sb + xdRow))
        f2 = fma(f2, dot4(w0, w1, w2, w3, ab + 2 * xqRow), d * load<f32>(sb + 2 * xdRow))
        f3 = fma(f3, dot4(w0, w1, w2, w3, ab + 3 * xqRow), d * load<f32>(sb + 3 * xdRow))
      }
      const o = out + ((<usize>i * <usize>outDim + <usize>r) << 2)
      store<f32>(o, hsum(f0)); store<f32>(o + os, hsum(f1)); store<f32>(o + 2 * os, hsum(f2)); store<f32>(o + 3 * os, hsum(f3))
    }
  }
  for (; i < n; i++) {
    const a = xq + <usize>i * xqRow
    const s = xd + <usize>i * xdRow
    const o = out + ((<usize>i * <usize>outDim) << 2)
    for (let r = r0; r < r1; r++) store<f32>(o + (<usize>r << 2), rowQ8(wq + (<usize>r * <usize>nb << 5), ws + <usize>r * xdRow, a, s, nb))
  }
}

/** Σ over one Q8_0 block (32 int8 at p) × 32 int16 activations at a, as i32x4 partial sums. */
@inline function blockQ8 (p: usize, a: usize): v128 {
  const v0 = v128.load(p); const v1 = v128.load(p, 16)
  return dot4(q8Lo(v0), q8Hi(v0), q8Lo(v1), q8Hi(v1), a)
}

/** One packed Q8_0 row (quants q, scales d) against one quantized activation row (a, s). */
@inline function rowQ8 (q: usize, d: usize, a: usize, s: usize, nb: i32): f32 {
  let f0 = f32x4.splat(0)
  let f1 = f32x4.splat(0)
  let b = 0
  for (; b + 4 <= nb; b += 4) { // four blocks' scales at once
    const o = <usize>b << 2
    const sc = f32x4.mul(v128.load(d + o), v128.load(s + o))
    const p = q + (<usize>b << 5)
    const x = a + (<usize>b << 6)
    f0 = f32x4.add(f0, f32x4.mul(f32x4.convert_i32x4_s(blockQ8(p, x)), v128.shuffle<f32>(sc, sc, 0, 0, 0, 0)))
    f1 = f32x4.add(f1, f32x4.mul(f32x4.convert_i32x4_s(blockQ8(p + 32, x + 64)), v128.shuffle<f32>(sc, sc, 1, 1, 1, 1)))
    f0 = f32x4.add(f0, f32x4.mul(f32x4.convert_i32x4_s(blockQ8(p + 64, x + 128)), v128.shuffle<f32>(sc, sc, 2, 2, 2, 2)))
    f1 = f32x4.add(f1, f32x4.mul(f32x4.convert_i32x4_s(blockQ8(p + 96, x + 192)), v128.shuffle<f32>(sc, sc, 3, 3, 3, 3)))
  }
  for (; b < nb; b++) {
    f0 = fma(f0, blockQ8(q + (<usize>b << 5), a + (<usize>b << 6)), load<f32>(d + (<usize>b << 2)) * load<f32>(s + (<usize>b << 2)))
  }
  return hsum(f32x4.add(f0, f1))
}

/** Σ over one Q4_0 block (16 nibble bytes at p) × 32 int16 activations at a, as i32x4 partial sums. */
@inline function blockQ4 (p: usize, a: usize): v128 {
  const v = v128.load(p)
  const lo = i8x16.sub(v128.and(v, i8x16.splat(15)), i8x16.splat(8))
  const hi = i8x16.sub(i8x16.shr_u(v, 4), i8x16.splat(8))
  return dot4(q8Lo(lo), q8Hi(lo), q8Lo(hi), q8Hi(hi), a)
}

@inline function rowQ4 (q: usize, d: usize, a: usize, s: usize, nb: i32): f32 {
  let f0 = f32x4.splat(0)
  let f1 = f32x4.splat(0)
  let b = 0
  for (; b + 4 <= nb; b += 4) {
    const o = <usize>b << 2
    const sc = f32x4.mul(v128.load(d + o), v128.load(s + o))
    const p = q + (<usize>b << 4)
    const x = a + (<usize>b << 6)
    f0 = f32x4.add(f0, f32x4.mul(f32x4.convert_i32x4_s(blockQ4(p, x)), v128.shuffle<f32>(sc, sc, 0, 0, 0, 0)))
    f1 = f32x4.add(f1, f32x4.mul(f32x4.convert_i32x4_s(blockQ4(p + 16, x + 64)), v128.shuffle<f32>(sc, sc, 1, 1, 1, 1)))
    f0 = f32x4.add(f0, f32x4.mul(f32x4.convert_i32x4_s(blockQ4(p + 32, x + 128)), v128.shuffle<f32>(sc, sc, 2, 2, 2, 2)))
    f1 = f32x4.add(f1, f32x4.mul(f32x4.convert_i32x4_s(blockQ4(p + 48, x + 192)), v128.shuffle<f32>(sc, sc, 3, 3, 3, 3)))
  }
  for (; b < nb; b++) {
    f0 = fma(f0, blockQ4(q + (<usize>b << 4), a + (<usize>b << 6)), load<f32>(d + (<usize>b << 2)) * load<f32>(s + (<usize>b << 2)))
  }
  return hsum(f32x4.add(f0, f1))
}

export function matmulQ4 (out: usize, xq: usize, xd: usize, w: usize, n: i32, inDim: i32, outDim: i32, r0: i32, r1: i32): void {
  const nb = inDim >> 5
  const ws = w // (outDim, nb) f32 scales
  const wq = w + ((<usize>outDim * <usize>nb) << 2) // (outDim, nb, 16) nibble bytes
  const xqRow = <usize>inDim << 1
  const xdRow = <usize>nb << 2
  const os = <usize>outDim << 2
  const mask = i8x16.splat(15)
  const eight = i8x16.splat(8)
  let i = 0
  for (; i + 4 <= n; i += 4) {
    const a = xq + <usize>i * xqRow
    const s = xd + <usize>i * xdRow
    for (let r = r0; r < r1; r++) {
      const sr = ws + <usize>r * xdRow
      const qr = wq + (<usize>r * <usize>nb << 4)
      let f0 = f32x4.splat(0); let f1 = f32x4.splat(0); let f2 = f32x4.splat(0); let f3 = f32x4.splat(0)
      for (let b = 0; b < nb; b++) {
        const v = v128.load(qr + (<usize>b << 4))
        const lo = i8x16.sub(v128.and(v, mask), eight)
        const hi = i8x16.sub(i8x16.shr_u(v, 4), eight)
        const w0 = q8Lo(lo); const w1 = q8Hi(lo); const w2 = q8Lo(hi); const w3 = q8Hi(hi)
        const d = load<f32>(sr + (<usize>b << 2))
        const ab = a + (<usize>b << 6)
        const sb = s + (<usize>b << 2)
        f0 = fma(f0, dot4(w0, w1, w2, w3, ab), d * load<f32>(sb))
        f1 = fma(f1, dot4(w0, w1, w2, w3, ab + xqRow), d * load<f32>(sb + xdRow))
        f2 = fma(f2, dot4(w0, w1, w2, w3, ab + 2 * xqRow), d * load<f32>(sb + 2 * xdRow))
        f3 = fma(f3, dot4(w0, w1, w2, w3, ab + 3 * xqRow), d * load<f32>(sb + 3 * xdRow))
      }
      const o = out + ((<usize>i * <usize>outDim + <usize>r) << 2)
      store<f32>(o, hsum(f0)); store<f32>(o + os, hsum(f1)); store<f32>(o + 2 * os, hsum(f2)); store<f32>(o + 3 * os, hsum(f3))
    }
  }
  for (; i < n; i++) {
    const a = xq + <usize>i * xqRow
    const s = xd + <usize>i * xdRow
    const o = out + ((<usize>i * <usize>outDim) << 2)
    for (let r = r0; r < r1; r++) store<f32>(o + (<usize>r << 2), rowQ4(wq + (<usize>r * <usize>nb << 4), ws + <usize>r * xdRow, a, s, nb))
  }
}

/** Rows ids[i] of a table into out (n, dim) as f32: kind 0 f32, 8 packed Q8_0, 2 packed Q4_0. */
export function getRows (out: usize, table: usize, rows: i32, ids: usize, n: i32, dim: i32, kind: i32): void {
  const nb = <usize>(dim >> 5)
  const quants = table + ((<usize>rows * nb) << 2)
  for (let i = 0; i < n; i++) {
    const id = <usize>load<i32>(ids + (<usize>i << 2))
    const o = out + ((<usize>i * <usize>dim) << 2)
    if (kind == 0) {
      memory.copy(o, table + ((id * <usize>dim) << 2), <usize>dim << 2)
      continue
    }
    for (let b: usize = 0; b < nb; b++) {
      const d = load<f32>(table + ((id * nb + b) << 2))
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

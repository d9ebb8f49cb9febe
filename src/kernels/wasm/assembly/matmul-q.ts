// Quantized weights (GGUF Q8_0 / Q4_0 blocks of 32) against activations quantized to 8 bits per
// 32-block (an f32 scale and int16-stored values in [-127, 127]), with integer dot products
// (i32x4.dot_i16x8_s), as llama.cpp does. out[i][r] for tokens i < n, rows r in [r0, r1).
// out (n, outDim), xq (n, inDim) i16, xd (n, inDim / 32) f32, w (outDim, inDim / 32 blocks).
import { hsum, f16ToF32 } from './simd'

const Q8_BYTES: usize = 34
const Q4_BYTES: usize = 18

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

/** Σ over one Q8_0 block (32 int8 at q) × 32 int16 activations at a. */
@inline function blockQ8 (q: usize, a: usize): v128 {
  return i32x4.add(
    i32x4.add(i32x4.dot_i16x8_s(v128.load8x8_s(q), v128.load(a)), i32x4.dot_i16x8_s(v128.load8x8_s(q, 8), v128.load(a, 16))),
    i32x4.add(i32x4.dot_i16x8_s(v128.load8x8_s(q, 16), v128.load(a, 32)), i32x4.dot_i16x8_s(v128.load8x8_s(q, 24), v128.load(a, 48))))
}

export function matmulQ8 (out: usize, xq: usize, xd: usize, w: usize, n: i32, inDim: i32, outDim: i32, r0: i32, r1: i32): void {
  const nb = inDim >> 5
  const rowBytes = <usize>nb * Q8_BYTES
  const xqRow = <usize>inDim << 1
  const xdRow = <usize>nb << 2
  let i = 0
  for (; i + 4 <= n; i += 4) {
    const a = xq + <usize>i * xqRow
    const s = xd + <usize>i * xdRow
    for (let r = r0; r < r1; r++) {
      const wr = w + <usize>r * rowBytes
      let f0 = f32x4.splat(0); let f1 = f32x4.splat(0); let f2 = f32x4.splat(0); let f3 = f32x4.splat(0)
      for (let b = 0; b < nb; b++) {
        const p = wr + <usize>b * Q8_BYTES
        const d = f16ToF32(load<u16>(p))
        const w0 = v128.load8x8_s(p, 2); const w1 = v128.load8x8_s(p, 10); const w2 = v128.load8x8_s(p, 18); const w3 = v128.load8x8_s(p, 26)
        const ab = a + (<usize>b << 6)
        const sb = s + (<usize>b << 2)
        f0 = f32x4.add(f0, f32x4.mul(f32x4.convert_i32x4_s(dot4(w0, w1, w2, w3, ab)), f32x4.splat(d * load<f32>(sb))))
        f1 = f32x4.add(f1, f32x4.mul(f32x4.convert_i32x4_s(dot4(w0, w1, w2, w3, ab + xqRow)), f32x4.splat(d * load<f32>(sb + xdRow))))
        f2 = f32x4.add(f2, f32x4.mul(f32x4.convert_i32x4_s(dot4(w0, w1, w2, w3, ab + 2 * xqRow)), f32x4.splat(d * load<f32>(sb + 2 * xdRow))))
        f3 = f32x4.add(f3, f32x4.mul(f32x4.convert_i32x4_s(dot4(w0, w1, w2, w3, ab + 3 * xqRow)), f32x4.splat(d * load<f32>(sb + 3 * xdRow))))
      }
      const o = out + ((<usize>i * <usize>outDim + <usize>r) << 2)
      const os = <usize>outDim << 2
      store<f32>(o, hsum(f0)); store<f32>(o + os, hsum(f1)); store<f32>(o + 2 * os, hsum(f2)); store<f32>(o + 3 * os, hsum(f3))
    }
  }
  for (; i < n; i++) {
    const a = xq + <usize>i * xqRow
    const s = xd + <usize>i * xdRow
    for (let r = r0; r < r1; r++) {
      const wr = w + <usize>r * rowBytes
      let f0 = f32x4.splat(0)
      for (let b = 0; b < nb; b++) {
        const p = wr + <usize>b * Q8_BYTES
        const d = f16ToF32(load<u16>(p)) * load<f32>(s + (<usize>b << 2))
        f0 = f32x4.add(f0, f32x4.mul(f32x4.convert_i32x4_s(blockQ8(p + 2, a + (<usize>b << 6))), f32x4.splat(d)))
      }
      store<f32>(out + ((<usize>i * <usize>outDim + <usize>r) << 2), hsum(f0))
    }
  }
}

/** Four int16x8 weight vectors (one block, in element order) against 32 int16 activations at a. */
@inline function dot4 (w0: v128, w1: v128, w2: v128, w3: v128, a: usize): v128 {
  return i32x4.add(
    i32x4.add(i32x4.dot_i16x8_s(w0, v128.load(a)), i32x4.dot_i16x8_s(w1, v128.load(a, 16))),
    i32x4.add(i32x4.dot_i16x8_s(w2, v128.load(a, 32)), i32x4.dot_i16x8_s(w3, v128.load(a, 48))))
}

// Q4_0: byte j of a block holds element j (low nibble) and j + 16 (high nibble); value = d (q - 8).
// Loading bytes 0..7 as u16 gives elements 0..7 (& 15) and 16..23 (>> 4); bytes 8..15 give 8..15 and 24..31.

export function matmulQ4 (out: usize, xq: usize, xd: usize, w: usize, n: i32, inDim: i32, outDim: i32, r0: i32, r1: i32): void {
  const nb = inDim >> 5
  const rowBytes = <usize>nb * Q4_BYTES
  const xqRow = <usize>inDim << 1
  const xdRow = <usize>nb << 2
  const lowMask = i16x8.splat(15)
  const eight = i16x8.splat(8)
  let i = 0
  for (; i + 4 <= n; i += 4) {
    const a = xq + <usize>i * xqRow
    const s = xd + <usize>i * xdRow
    for (let r = r0; r < r1; r++) {
      const wr = w + <usize>r * rowBytes
      let f0 = f32x4.splat(0); let f1 = f32x4.splat(0); let f2 = f32x4.splat(0); let f3 = f32x4.splat(0)
      for (let b = 0; b < nb; b++) {
        const p = wr + <usize>b * Q4_BYTES
        const d = f16ToF32(load<u16>(p))
        const u0 = v128.load8x8_u(p, 2)
        const u1 = v128.load8x8_u(p, 10)
        const w0 = i16x8.sub(v128.and(u0, lowMask), eight)
        const w1 = i16x8.sub(v128.and(u1, lowMask), eight)
        const w2 = i16x8.sub(i16x8.shr_u(u0, 4), eight)
        const w3 = i16x8.sub(i16x8.shr_u(u1, 4), eight)
        const ab = a + (<usize>b << 6)
        const sb = s + (<usize>b << 2)
        f0 = f32x4.add(f0, f32x4.mul(f32x4.convert_i32x4_s(dot4(w0, w1, w2, w3, ab)), f32x4.splat(d * load<f32>(sb))))
        f1 = f32x4.add(f1, f32x4.mul(f32x4.convert_i32x4_s(dot4(w0, w1, w2, w3, ab + xqRow)), f32x4.splat(d * load<f32>(sb + xdRow))))
        f2 = f32x4.add(f2, f32x4.mul(f32x4.convert_i32x4_s(dot4(w0, w1, w2, w3, ab + 2 * xqRow)), f32x4.splat(d * load<f32>(sb + 2 * xdRow))))
        f3 = f32x4.add(f3, f32x4.mul(f32x4.convert_i32x4_s(dot4(w0, w1, w2, w3, ab + 3 * xqRow)), f32x4.splat(d * load<f32>(sb + 3 * xdRow))))
      }
      const o = out + ((<usize>i * <usize>outDim + <usize>r) << 2)
      const os = <usize>outDim << 2
      store<f32>(o, hsum(f0)); store<f32>(o + os, hsum(f1)); store<f32>(o + 2 * os, hsum(f2)); store<f32>(o + 3 * os, hsum(f3))
    }
  }
  for (; i < n; i++) {
    const a = xq + <usize>i * xqRow
    const s = xd + <usize>i * xdRow
    for (let r = r0; r < r1; r++) {
      const wr = w + <usize>r * rowBytes
      let f0 = f32x4.splat(0)
      for (let b = 0; b < nb; b++) {
        const p = wr + <usize>b * Q4_BYTES
        const d = f16ToF32(load<u16>(p)) * load<f32>(s + (<usize>b << 2))
        const u0 = v128.load8x8_u(p, 2)
        const u1 = v128.load8x8_u(p, 10)
        const w0 = i16x8.sub(v128.and(u0, lowMask), eight)
        const w1 = i16x8.sub(v128.and(u1, lowMask), eight)
        const w2 = i16x8.sub(i16x8.shr_u(u0, 4), eight)
        const w3 = i16x8.sub(i16x8.shr_u(u1, 4), eight)
        f0 = f32x4.add(f0, f32x4.mul(f32x4.convert_i32x4_s(dot4(w0, w1, w2, w3, a + (<usize>b << 6))), f32x4.splat(d)))
      }
      store<f32>(out + ((<usize>i * <usize>outDim + <usize>r) << 2), hsum(f0))
    }
  }
}

/** Dequantizes rows ids[i] of a Q8_0 / Q4_0 / f32 table into out (n, dim). */
export function getRows (out: usize, table: usize, ids: usize, n: i32, dim: i32, kind: i32): void {
  const nb = dim >> 5
  for (let i = 0; i < n; i++) {
    const id = <usize>load<i32>(ids + (<usize>i << 2))
    const o = out + ((<usize>i * <usize>dim) << 2)
    if (kind == 0) {
      memory.copy(o, table + ((id * <usize>dim) << 2), <usize>dim << 2)
    } else if (kind == 8) {
      for (let b = 0; b < nb; b++) {
        const p = table + (id * <usize>nb + <usize>b) * Q8_BYTES
        const d = f16ToF32(load<u16>(p))
        for (let j = 0; j < 32; j++) store<f32>(o + ((<usize>(b * 32 + j)) << 2), d * <f32>load<i8>(p + 2 + <usize>j))
      }
    } else {
      for (let b = 0; b < nb; b++) {
        const p = table + (id * <usize>nb + <usize>b) * Q4_BYTES
        const d = f16ToF32(load<u16>(p))
        for (let j = 0; j < 16; j++) {
          const q = <i32>load<u8>(p + 2 + <usize>j)
          store<f32>(o + ((<usize>(b * 32 + j)) << 2), d * <f32>((q & 15) - 8))
          store<f32>(o + ((<usize>(b * 32 + j + 16)) << 2), d * <f32>((q >> 4) - 8))
        }
      }
    }
  }
}

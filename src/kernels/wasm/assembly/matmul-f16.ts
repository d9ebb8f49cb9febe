// f16 and bf16 weights, kept 16-bit in memory: out[i][r] = Σ_k x[i][k] w[r][k] for tokens i < n,
// rows [r0, r1); any inDim. Weights are widened to f32 exactly in registers (f16: finite values
// only; the backend stores f16 tensors with infinities or NaNs as f32 instead). Few tokens: one
// row at a time; many: tiles of TILE rows widened into per-thread scratch, then the f32 kernel.
import { BF16 } from './planes'
import { matmulF32 } from './matmul-f32'
import { f16ToF32, hsum, madd } from './simd'

const TILE = 8
const EXP_SIGN = i32x4.splat(0x8fffe000)
const REBIAS = f32x4.splat(5.192296858534828e33) // 2^112

/** Four 16-bit values (lanes 0..3 of v when hi is false, 4..7 when true) as f32. */
@inline function widen (v: v128, hi: bool, bf16: bool): v128 {
  if (bf16) return i32x4.shl(hi ? i32x4.extend_high_i16x8_u(v) : i32x4.extend_low_i16x8_u(v), 16)
  // sign-extended, then shifted: sign copies fill bits 31..28 (masked to bit 31), exponent and
  // mantissa land in their f32 places; 2^112 rebiases (exact, subnormals too)
  const x = hi ? i32x4.extend_high_i16x8_s(v) : i32x4.extend_low_i16x8_s(v)
  return f32x4.mul(v128.and(i32x4.shl(x, 13), EXP_SIGN), REBIAS)
}

@inline function scalar (w: usize, bf16: bool): f32 {
  const h = <u32>load<u16>(w)
  return bf16 ? reinterpret<f32>(h << 16) : f16ToF32(h)
}

@inline function dotRow (w: usize, x: usize, len: i32, bf16: bool): f32 {
  let a0 = f32x4.splat(0); let a1 = f32x4.splat(0); let a2 = f32x4.splat(0); let a3 = f32x4.splat(0)
  let j = 0
  for (; j + 16 <= len; j += 16) {
    const v = v128.load(w + (<usize>j << 1)); const u = v128.load(w + (<usize>j << 1), 16)
    const xo = x + (<usize>j << 2)
    a0 = madd(widen(v, false, bf16), v128.load(xo), a0)
    a1 = madd(widen(v, true, bf16), v128.load(xo, 16), a1)
    a2 = madd(widen(u, false, bf16), v128.load(xo, 32), a2)
    a3 = madd(widen(u, true, bf16), v128.load(xo, 48), a3)
  }
  let s = hsum(f32x4.add(f32x4.add(a0, a1), f32x4.add(a2, a3)))
  for (; j < len; j++) s += scalar(w + (<usize>j << 1), bf16) * load<f32>(x + (<usize>j << 2))
  return s
}

/** Scratch bytes matmul16 needs per thread for rows of inDim. */
export function matmul16ScratchBytes (inDim: i32): i32 {
  return TILE * inDim * 4
}

export function matmul16 (kind: i32, out: usize, x: usize, w: usize, n: i32, inDim: i32, outDim: i32, scratch: usize, r0: i32, r1: i32, tid: i32): void {
  const bf16 = kind == BF16
  const rowIn = <usize>inDim << 1
  if (n < 4) {
    for (let i = 0; i < n; i++) {
      const xi = x + ((<usize>i * <usize>inDim) << 2)
      const oi = out + ((<usize>i * <usize>outDim) << 2)
      for (let r = r0; r < r1; r++) {
        store<f32>(oi + (<usize>r << 2), dotRow(w + <usize>r * rowIn, xi, inDim, bf16))
      }
    }
    return
  }
  const tile = scratch + <usize>tid * <usize>matmul16ScratchBytes(inDim)
  const rowOut = <usize>inDim << 2
  for (let r = r0; r < r1; r += TILE) {
    const rows = min(TILE, r1 - r)
    for (let t = 0; t < rows; t++) {
      const src = w + <usize>(r + t) * rowIn
      const dst = tile + <usize>t * rowOut
      let j = 0
      for (; j + 8 <= inDim; j += 8) {
        const v = v128.load(src + (<usize>j << 1))
        v128.store(dst + (<usize>j << 2), widen(v, false, bf16))
        v128.store(dst + (<usize>j << 2), widen(v, true, bf16), 16)
      }
      for (; j < inDim; j++) store<f32>(dst + (<usize>j << 2), scalar(src + (<usize>j << 1), bf16))
    }
    // the f32 kernel addresses row r of its matrix at base + r · rowOut: point row r at the tile
    matmulF32(out, x, tile - <usize>r * rowOut, n, inDim, outDim, r, r + rows)
  }
}

/** 1 when the n f16 values at p are all finite. */
export function f16Finite (p: usize, n: i32): i32 {
  const e = i16x8.splat(0x7c00)
  let bad = i16x8.splat(0)
  let j = 0
  for (; j + 8 <= n; j += 8) bad = v128.or(bad, i16x8.eq(v128.and(v128.load(p + (<usize>j << 1)), e), e))
  let ok = !v128.any_true(bad)
  for (; j < n; j++) if ((load<u16>(p + (<usize>j << 1)) & 0x7c00) == 0x7c00) ok = false
  return ok ? 1 : 0
}

/** Rows ids[i] of an f16 / bf16 table (rows, dim) as f32 (exact, any value). */
export function getRows16 (kind: i32, out: usize, table: usize, ids: usize, n: i32, dim: i32): void {
  const bf16 = kind == BF16
  for (let i = 0; i < n; i++) {
    const src = table + <usize>load<i32>(ids + (<usize>i << 2)) * (<usize>dim << 1)
    const o = out + ((<usize>i * <usize>dim) << 2)
    for (let j: usize = 0; j < <usize>dim; j++) store<f32>(o + (j << 2), scalar(src + (j << 1), bf16))
  }
}

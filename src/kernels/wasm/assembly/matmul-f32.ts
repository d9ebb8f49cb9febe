// f32 weights: out[i][r] = Σ_k x[i][k] w[r][k] for tokens i < n and rows r in [r0, r1).
// out (n, outDim), x (n, inDim), w (outDim, inDim); any inDim.
import { hsum, dot, madd } from './simd'

/** One weight row against one activation row: 4 accumulators, 16 floats a step. */
@inline function dotRow (w: usize, x: usize, len: i32): f32 {
  let a0 = f32x4.splat(0)
  let a1 = f32x4.splat(0)
  let a2 = f32x4.splat(0)
  let a3 = f32x4.splat(0)
  let j = 0
  for (; j + 16 <= len; j += 16) {
    const o = <usize>j << 2
    a0 = madd(v128.load(w + o), v128.load(x + o), a0)
    a1 = madd(v128.load(w + o, 16), v128.load(x + o, 16), a1)
    a2 = madd(v128.load(w + o, 32), v128.load(x + o, 32), a2)
    a3 = madd(v128.load(w + o, 48), v128.load(x + o, 48), a3)
  }
  for (; j + 4 <= len; j += 4) {
    const o = <usize>j << 2
    a0 = madd(v128.load(w + o), v128.load(x + o), a0)
  }
  let s = hsum(f32x4.add(f32x4.add(a0, a1), f32x4.add(a2, a3)))
  for (; j < len; j++) s += load<f32>(w + (<usize>j << 2)) * load<f32>(x + (<usize>j << 2))
  return s
}

/** Two weight rows × four tokens, eight accumulators. */
@inline function block2x4 (out: usize, outDim: i32, x: usize, w: usize, len: i32): void {
  const xs = <usize>len << 2
  const x0 = x
  const x1 = x0 + xs
  const x2 = x1 + xs
  const x3 = x2 + xs
  const w0 = w
  const w1 = w + xs
  let a00 = f32x4.splat(0); let a01 = f32x4.splat(0); let a02 = f32x4.splat(0); let a03 = f32x4.splat(0)
  let a10 = f32x4.splat(0); let a11 = f32x4.splat(0); let a12 = f32x4.splat(0); let a13 = f32x4.splat(0)
  let j = 0
  for (; j + 4 <= len; j += 4) {
    const o = <usize>j << 2
    const u = v128.load(w0 + o)
    const v = v128.load(w1 + o)
    let t = v128.load(x0 + o)
    a00 = madd(u, t, a00); a10 = madd(v, t, a10)
    t = v128.load(x1 + o)
    a01 = madd(u, t, a01); a11 = madd(v, t, a11)
    t = v128.load(x2 + o)
    a02 = madd(u, t, a02); a12 = madd(v, t, a12)
    t = v128.load(x3 + o)
    a03 = madd(u, t, a03); a13 = madd(v, t, a13)
  }
  let s00 = hsum(a00); let s01 = hsum(a01); let s02 = hsum(a02); let s03 = hsum(a03)
  let s10 = hsum(a10); let s11 = hsum(a11); let s12 = hsum(a12); let s13 = hsum(a13)
  for (; j < len; j++) {
    const o = <usize>j << 2
    const u = load<f32>(w0 + o)
    const v = load<f32>(w1 + o)
    const t0 = load<f32>(x0 + o); const t1 = load<f32>(x1 + o); const t2 = load<f32>(x2 + o); const t3 = load<f32>(x3 + o)
    s00 += u * t0; s01 += u * t1; s02 += u * t2; s03 += u * t3
    s10 += v * t0; s11 += v * t1; s12 += v * t2; s13 += v * t3
  }
  const os = <usize>outDim << 2
  store<f32>(out, s00); store<f32>(out, s10, 4)
  store<f32>(out + os, s01); store<f32>(out + os, s11, 4)
  store<f32>(out + 2 * os, s02); store<f32>(out + 2 * os, s12, 4)
  store<f32>(out + 3 * os, s03); store<f32>(out + 3 * os, s13, 4)
}

export function matmulF32 (out: usize, x: usize, w: usize, n: i32, inDim: i32, outDim: i32, r0: i32, r1: i32): void {
  const rowBytes = <usize>inDim << 2
  let i = 0
  for (; i + 4 <= n; i += 4) {
    const xi = x + <usize>i * rowBytes
    const oi = out + ((<usize>i * <usize>outDim) << 2)
    let r = r0
    for (; r + 2 <= r1; r += 2) block2x4(oi + (<usize>r << 2), outDim, xi, w + <usize>r * rowBytes, inDim)
    for (; r < r1; r++) {
      for (let t = 0; t < 4; t++) {
        store<f32>(oi + ((<usize>t * <usize>outDim + <usize>r) << 2), dot(w + <usize>r * rowBytes, xi + <usize>t * rowBytes, inDim))
      }
    }
  }
  for (; i < n; i++) {
    const xi = x + <usize>i * rowBytes
    const oi = out + ((<usize>i * <usize>outDim) << 2)
    for (let r = r0; r < r1; r++) store<f32>(oi + (<usize>r << 2), dotRow(w + <usize>r * rowBytes, xi, inDim))
  }
}

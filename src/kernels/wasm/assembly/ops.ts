// Element-wise and attention kernels. Shapes as in src/kernels/backend.ts; any sizes.
import { hsum, expv, exps, dot, axpy, madd } from './simd'

/** out[i] = x[i] / sqrt(mean(x[i]²) + eps) * weight.  out, x (n, dim), weight (dim) */
export function rmsnorm (out: usize, x: usize, weight: usize, n: i32, dim: i32, eps: f32): void {
  for (let i = 0; i < n; i++) {
    const xi = x + ((<usize>i * <usize>dim) << 2)
    const oi = out + ((<usize>i * <usize>dim) << 2)
    const scale = <f32>(1 / Math.sqrt(<f64>dot(xi, xi, dim) / <f64>dim + <f64>eps))
    const sv = f32x4.splat(scale)
    let j = 0
    for (; j + 4 <= dim; j += 4) {
      const o = <usize>j << 2
      v128.store(oi + o, f32x4.mul(v128.load(weight + o), f32x4.mul(sv, v128.load(xi + o))))
    }
    for (; j < dim; j++) {
      const o = <usize>j << 2
      store<f32>(oi + o, load<f32>(weight + o) * (scale * load<f32>(xi + o)))
    }
  }
}

/**
 * Rotates x (n, nHeads * headDim) in place. table (n, ropeDim / 2, 2) holds cos, sin of each
 * token's angle per pair; style 0 pairs (2k, 2k + 1), style 1 pairs (k, k + ropeDim / 2).
 */
export function rope (x: usize, n: i32, nHeads: i32, headDim: i32, ropeDim: i32, table: usize, style: i32): void {
  const half = ropeDim >> 1
  for (let i = 0; i < n; i++) {
    const t = table + ((<usize>i * <usize>half) << 3)
    for (let h = 0; h < nHeads; h++) {
      const base = x + ((<usize>(i * nHeads + h) * <usize>headDim) << 2)
      for (let k = 0; k < half; k++) {
        const c = load<f32>(t + (<usize>k << 3))
        const s = load<f32>(t + (<usize>k << 3), 4)
        const a = style == 0 ? base + (<usize>k << 3) : base + (<usize>k << 2)
        const b = style == 0 ? a + 4 : a + (<usize>half << 2)
        const v0 = load<f32>(a)
        const v1 = load<f32>(b)
        store<f32>(a, v0 * c - v1 * s)
        store<f32>(b, v0 * s + v1 * c)
      }
    }
  }
}

/**
 * Causal grouped-query attention for heads [h0, h1): query row i (position pos0 + i) sees cache
 * rows [0, pos0 + i]. out, q (n, nHeads * headDim); kc, vc (maxLen, nKvHeads * headDim);
 * scratch holds, per thread tid, (pos0 + n) f32 scores rounded up to 16.
 */
export function attention (out: usize, q: usize, kc: usize, vc: usize, n: i32, pos0: i32,
  nHeads: i32, nKvHeads: i32, headDim: i32, scratch: usize, h0: i32, h1: i32, tid: i32): void {
  const kvRow = <usize>(nKvHeads * headDim) << 2 // bytes per cache row
  const group = nHeads / nKvHeads
  const scale = <f32>(1 / Math.sqrt(<f64>headDim))
  const sc = scratch + <usize>tid * (<usize>((pos0 + n + 15) & ~15) << 2)
  const fast = (headDim & 15) == 0
  for (let i = 0; i < n; i++) {
    const last = pos0 + i
    for (let h = h0; h < h1; h++) {
      const qo = q + ((<usize>(i * nHeads + h) * <usize>headDim) << 2)
      const oo = out + ((<usize>(i * nHeads + h) * <usize>headDim) << 2)
      const kvo = <usize>(h / group) * <usize>headDim << 2
      const kb = kc + kvo
      const vb = vc + kvo
      let max: f32 = -Infinity
      for (let t = 0; t <= last; t++) {
        const kt = kb + <usize>t * kvRow
        const s = (fast ? dot16(qo, kt, headDim) : dot(qo, kt, headDim)) * scale
        store<f32>(sc + (<usize>t << 2), s)
        if (s > max) max = s
      }
      const inv: f32 = 1 / softmaxExp(sc, last + 1, max)
      if (fast) {
        for (let d = 0; d < headDim; d += 16) { // 16 dims in registers across every position
          const vd = vb + (<usize>d << 2)
          let a0 = f32x4.splat(0); let a1 = f32x4.splat(0); let a2 = f32x4.splat(0); let a3 = f32x4.splat(0)
          for (let t = 0; t <= last; t++) {
            const p = v128.load32_splat(sc + (<usize>t << 2))
            const vt = vd + <usize>t * kvRow
            a0 = madd(p, v128.load(vt), a0)
            a1 = madd(p, v128.load(vt, 16), a1)
            a2 = madd(p, v128.load(vt, 32), a2)
            a3 = madd(p, v128.load(vt, 48), a3)
          }
          const iv = f32x4.splat(inv)
          const od = oo + (<usize>d << 2)
          v128.store(od, f32x4.mul(a0, iv)); v128.store(od, f32x4.mul(a1, iv), 16)
          v128.store(od, f32x4.mul(a2, iv), 32); v128.store(od, f32x4.mul(a3, iv), 48)
        }
      } else {
        memory.fill(oo, 0, <usize>headDim << 2)
        for (let t = 0; t <= last; t++) axpy(oo, load<f32>(sc + (<usize>t << 2)), vb + <usize>t * kvRow, headDim)
        for (let d = 0; d < headDim; d++) store<f32>(oo + (<usize>d << 2), load<f32>(oo + (<usize>d << 2)) * inv)
      }
    }
  }
}

/** Σ a[i] b[i] for len a multiple of 16. */
@inline function dot16 (a: usize, b: usize, len: i32): f32 {
  let a0 = f32x4.splat(0); let a1 = f32x4.splat(0); let a2 = f32x4.splat(0); let a3 = f32x4.splat(0)
  for (let j = 0; j < len; j += 16) {
    const o = <usize>j << 2
    a0 = madd(v128.load(a + o), v128.load(b + o), a0)
    a1 = madd(v128.load(a + o, 16), v128.load(b + o, 16), a1)
    a2 = madd(v128.load(a + o, 32), v128.load(b + o, 32), a2)
    a3 = madd(v128.load(a + o, 48), v128.load(b + o, 48), a3)
  }
  return hsum(f32x4.add(f32x4.add(a0, a1), f32x4.add(a2, a3)))
}

/** p[t] = e^(p[t] - max) for t < len; returns their sum. */
@inline function softmaxExp (p: usize, len: i32, max: f32): f32 {
  const mv = f32x4.splat(max)
  let sv = f32x4.splat(0)
  let t = 0
  for (; t + 4 <= len; t += 4) {
    const a = p + (<usize>t << 2)
    const e = expv(f32x4.sub(v128.load(a), mv))
    v128.store(a, e)
    sv = f32x4.add(sv, e)
  }
  let sum = hsum(sv)
  for (; t < len; t++) {
    const a = p + (<usize>t << 2)
    const e = exps(load<f32>(a) - max)
    store<f32>(a, e)
    sum += e
  }
  return sum
}

/** gate[j] = silu(gate[j]) * up[j] for j < len */
export function siluMul (gate: usize, up: usize, len: i32): void {
  const one = f32x4.splat(1)
  let j = 0
  for (; j + 4 <= len; j += 4) {
    const o = <usize>j << 2
    const g = v128.load(gate + o)
    v128.store(gate + o, f32x4.mul(f32x4.div(g, f32x4.add(one, expv(f32x4.neg(g)))), v128.load(up + o)))
  }
  for (; j < len; j++) {
    const o = <usize>j << 2
    const g = load<f32>(gate + o)
    store<f32>(gate + o, g / (1 + exps(-g)) * load<f32>(up + o))
  }
}

/** x[j] += y[j] for j < len */
export function add (x: usize, y: usize, len: i32): void {
  let j = 0
  for (; j + 4 <= len; j += 4) {
    const o = <usize>j << 2
    v128.store(x + o, f32x4.add(v128.load(x + o), v128.load(y + o)))
  }
  for (; j < len; j++) {
    const o = <usize>j << 2
    store<f32>(x + o, load<f32>(x + o) + load<f32>(y + o))
  }
}

/** x[i] += b for each of n rows of dim */
export function addBias (x: usize, b: usize, n: i32, dim: i32): void {
  for (let i = 0; i < n; i++) add(x + ((<usize>i * <usize>dim) << 2), b, dim)
}

/** Σ of the bytes [p, p + len) as int32 lanes (wrapping), 64 bytes a step: a memory read-bandwidth probe for the benchmarks. */
export function readProbe (p: usize, len: i32): i32 {
  let a = i32x4.splat(0); let b = a; let c = a; let d = a
  for (let i = 0; i + 64 <= len; i += 64) {
    const q = p + <usize>i
    a = i32x4.add(a, v128.load(q)); b = i32x4.add(b, v128.load(q, 16))
    c = i32x4.add(c, v128.load(q, 32)); d = i32x4.add(d, v128.load(q, 48))
  }
  const s = i32x4.add(i32x4.add(a, b), i32x4.add(c, d))
  return i32x4.extract_lane(s, 0) + i32x4.extract_lane(s, 1) + i32x4.extract_lane(s, 2) + i32x4.extract_lane(s, 3)
}

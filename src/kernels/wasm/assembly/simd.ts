// Shared SIMD helpers for the kernels (AssemblyScript, compiled to WebAssembly SIMD128).
// RELAXED is a build constant (asconfig.json targets): 1 in the relaxed-SIMD build, which fuses
// multiply-adds, 0 in the baseline build that every SIMD engine runs.

/** a * b + c per lane (fused where relaxed SIMD is built in) */
@inline export function madd (a: v128, b: v128, c: v128): v128 {
  if (RELAXED) return f32x4.relaxed_madd(a, b, c)
  return f32x4.add(f32x4.mul(a, b), c)
}

/** Sum of the four lanes. */
@inline export function hsum (v: v128): f32 {
  const s = f32x4.add(v, v128.shuffle<f32>(v, v, 2, 3, 0, 1))
  return f32x4.extract_lane(s, 0) + f32x4.extract_lane(s, 1)
}

/** Sum of the four i32 lanes. */
@inline export function hsumI (v: v128): i32 {
  const s = i32x4.add(v, v128.shuffle<i32>(v, v, 2, 3, 0, 1))
  return i32x4.extract_lane(s, 0) + i32x4.extract_lane(s, 1)
}

/** IEEE half → float, exact for every value (subnormals, infinities, NaN). */
@inline export function f16ToF32 (h: u32): f32 {
  const bits = (h & 0x7fff) << 13
  let f: f32
  if ((h & 0x7c00) == 0x7c00) f = reinterpret<f32>(bits | 0x7f800000)
  else f = reinterpret<f32>(bits) * 5.192296858534828e33 // 2^112 rebiases the exponent (exact)
  return reinterpret<f32>(reinterpret<u32>(f) | ((h & 0x8000) << 16))
}

/** Four IEEE halves (the low 64 bits of h) → floats, exact like f16ToF32. */
@inline export function f16x4ToF32 (h16: v128): v128 {
  const h = i32x4.extend_low_i16x8_u(h16)
  const bits = i32x4.shl(v128.and(h, i32x4.splat(0x7fff)), 13)
  const infNan = i32x4.eq(v128.and(h, i32x4.splat(0x7c00)), i32x4.splat(0x7c00))
  const f = v128.bitselect(v128.or(bits, i32x4.splat(0x7f800000)), f32x4.mul(bits, f32x4.splat(5.192296858534828e33)), infNan)
  return v128.or(f, i32x4.shl(v128.and(h, i32x4.splat(0x8000)), 16))
}

/** Four finite IEEE halves (the low 64 bits of h) → floats, exact: shifts into place, then 2^112 rebiases. */
@inline export function f16x4Finite (h: v128): v128 {
  return f32x4.mul(v128.and(i32x4.shl(i32x4.extend_low_i16x8_s(h), 13), i32x4.splat(0x8fffe000)), f32x4.splat(5.192296858534828e33))
}

/** e^x per lane, Cephes' expf polynomial (about 1 ulp on [-87, 88]); clamps outside. */
@inline export function expv (x: v128): v128 {
  x = f32x4.min(f32x4.max(x, f32x4.splat(-87.0)), f32x4.splat(88.0))
  const fx = f32x4.nearest(f32x4.mul(x, f32x4.splat(1.44269504088896341)))
  x = f32x4.sub(x, f32x4.mul(fx, f32x4.splat(0.693359375)))
  x = madd(fx, f32x4.splat(2.12194440e-4), x)
  let y = f32x4.splat(1.9875691500e-4)
  y = f32x4.add(f32x4.mul(y, x), f32x4.splat(1.3981999507e-3))
  y = f32x4.add(f32x4.mul(y, x), f32x4.splat(8.3334519073e-3))
  y = f32x4.add(f32x4.mul(y, x), f32x4.splat(4.1665795894e-2))
  y = f32x4.add(f32x4.mul(y, x), f32x4.splat(1.6666665459e-1))
  y = f32x4.add(f32x4.mul(y, x), f32x4.splat(5.0000001201e-1))
  y = f32x4.add(f32x4.add(f32x4.mul(y, f32x4.mul(x, x)), x), f32x4.splat(1.0))
  const pow2n = i32x4.shl(i32x4.add(i32x4.trunc_sat_f32x4_s(fx), i32x4.splat(127)), 23)
  return f32x4.mul(y, pow2n)
}

/** e^x for one value, the same polynomial as expv. */
@inline export function exps (x: f32): f32 {
  return f32x4.extract_lane(expv(f32x4.splat(x)), 0)
}

/** Σ a[i] b[i] over `len` f32 (any length). */
export function dot (a: usize, b: usize, len: i32): f32 {
  let a0 = f32x4.splat(0)
  let a1 = f32x4.splat(0)
  let j = 0
  for (; j + 8 <= len; j += 8) {
    const o = <usize>j << 2
    a0 = madd(v128.load(a + o), v128.load(b + o), a0)
    a1 = madd(v128.load(a + o, 16), v128.load(b + o, 16), a1)
  }
  if (j + 4 <= len) {
    const o = <usize>j << 2
    a0 = madd(v128.load(a + o), v128.load(b + o), a0)
    j += 4
  }
  let s = hsum(f32x4.add(a0, a1))
  for (; j < len; j++) s += load<f32>(a + (<usize>j << 2)) * load<f32>(b + (<usize>j << 2))
  return s
}

/** y[i] += a x[i] over `len` f32. */
export function axpy (y: usize, a: f32, x: usize, len: i32): void {
  const av = f32x4.splat(a)
  let j = 0
  for (; j + 4 <= len; j += 4) {
    const o = <usize>j << 2
    v128.store(y + o, f32x4.add(v128.load(y + o), f32x4.mul(av, v128.load(x + o))))
  }
  for (; j < len; j++) {
    const o = <usize>j << 2
    store<f32>(y + o, load<f32>(y + o) + a * load<f32>(x + o))
  }
}

/**
 * What the K-quant formats share (q2_k .. q6_k: super-blocks of 256 values): ggml's rounding,
 * its search for the best scale (and min) of a sub-block, and the 6-bit scale packing of
 * q4_k / q5_k. Every step is f32 arithmetic (Math.fround after each operation), following
 * ggml's reference quantizers (ggml-quants.c, the path llama-quantize takes without an
 * importance matrix), so a block comes out as ggml computes it in f32.
 */

export const QK_K = 256

export const fr = Math.fround

/** ggml's nearest_int: round half to even, through the 1.5·2^23 trick in f32. */
export function nearestInt (x: number): number {
  return fr(x + 12582912) - 12582912
}

export const GROUP_MAX_EPS = fr(1e-15)
/** C's 0.1f */
const F01 = fr(0.1)

/**
 * The best scale for n values quantized to signed levels in [-nmax, nmax - 1] (make_qx_quants with
 * rmse_type 1: weights x²), trying 18 scales around nmax / max. L gets level + nmax; returns the scale.
 */
export function makeQxQuants (n: number, nmax: number, x: Float32Array, x0: number, L: Uint8Array | Int8Array, l0: number): number {
  let max = 0
  let amax = 0
  for (let i = 0; i < n; i++) {
    const ax = Math.abs(x[x0 + i]!)
    if (ax > amax) { amax = ax; max = x[x0 + i]! }
  }
  if (amax < GROUP_MAX_EPS) {
    for (let i = 0; i < n; i++) L[l0 + i] = 0
    return 0
  }
  let iscale = fr(-nmax / max)
  let sumlx = 0
  let suml2 = 0
  for (let i = 0; i < n; i++) {
    const v = x[x0 + i]!
    const l = Math.max(-nmax, Math.min(nmax - 1, nearestInt(fr(iscale * v))))
    L[l0 + i] = l + nmax
    const w = fr(v * v)
    sumlx = fr(sumlx + fr(fr(w * v) * l))
    suml2 = fr(suml2 + fr(fr(w * l) * l))
  }
  let scale = suml2 !== 0 ? fr(sumlx / suml2) : 0
  let best = fr(scale * sumlx)
  for (let is = -9; is <= 9; is++) {
    if (is === 0) continue
    iscale = fr(-fr(nmax + fr(F01 * is)) / max)
    sumlx = 0
    suml2 = 0
    for (let i = 0; i < n; i++) {
      const v = x[x0 + i]!
      const l = Math.max(-nmax, Math.min(nmax - 1, nearestInt(fr(iscale * v))))
      const w = fr(v * v)
      sumlx = fr(sumlx + fr(fr(w * v) * l))
      suml2 = fr(suml2 + fr(fr(w * l) * l))
    }
    if (suml2 > 0 && fr(sumlx * sumlx) > fr(best * suml2)) {
      for (let i = 0; i < n; i++) {
        const l = nearestInt(fr(iscale * x[x0 + i]!))
        L[l0 + i] = nmax + Math.max(-nmax, Math.min(nmax - 1, l))
      }
      scale = fr(sumlx / suml2)
      best = fr(scale * sumlx)
    }
  }
  return scale
}

/**
 * A scale and a min for n values quantized to [0, nmax] (make_qkx2_quants): weighted least squares
 * over nstep + 1 trial scales. L gets the levels; returns [scale, -min].
 */
export function makeQkx2Quants (n: number, nmax: number, x: Float32Array, x0: number, weights: Float32Array,
  L: Uint8Array, l0: number, Laux: Uint8Array, rmin: number, rdelta: number, nstep: number, useMad: boolean): [number, number] {
  rmin = fr(rmin)
  rdelta = fr(rdelta)
  let min = x[x0]!
  let max = x[x0]!
  let sumW = weights[0]!
  let sumX = fr(sumW * x[x0]!)
  for (let i = 1; i < n; i++) {
    const v = x[x0 + i]!
    if (v < min) min = v
    if (v > max) max = v
    const w = weights[i]!
    sumW = fr(sumW + w)
    sumX = fr(sumX + fr(w * v))
  }
  if (min > 0) min = 0
  if (max === min) {
    for (let i = 0; i < n; i++) L[l0 + i] = 0
    return [0, -min]
  }
  let iscale = fr(nmax / fr(max - min))
  let scale = fr(1 / iscale)
  let bestError = 0
  for (let i = 0; i < n; i++) {
    const v = x[x0 + i]!
    const l = Math.max(0, Math.min(nmax, nearestInt(fr(iscale * fr(v - min)))))
    L[l0 + i] = l
    let diff = fr(fr(fr(scale * l) + min) - v)
    diff = useMad ? Math.abs(diff) : fr(diff * diff)
    bestError = fr(bestError + fr(weights[i]! * diff))
  }
  if (nstep < 1) return [scale, -min]
  for (let is = 0; is <= nstep; is++) {
    iscale = fr(fr(fr(rmin + fr(rdelta * is)) + nmax) / fr(max - min))
    let sumL = 0; let sumL2 = 0; let sumXL = 0
    for (let i = 0; i < n; i++) {
      const v = x[x0 + i]!
      const l = Math.max(0, Math.min(nmax, nearestInt(fr(iscale * fr(v - min)))))
      Laux[i] = l
      const w = weights[i]!
      sumL = fr(sumL + fr(w * l))
      sumL2 = fr(sumL2 + fr(fr(w * l) * l))
      sumXL = fr(sumXL + fr(fr(w * l) * v))
    }
    const D = fr(fr(sumW * sumL2) - fr(sumL * sumL))
    if (D > 0) {
      let thisScale = fr(fr(fr(sumW * sumXL) - fr(sumX * sumL)) / D)
      let thisMin = fr(fr(fr(sumL2 * sumX) - fr(sumL * sumXL)) / D)
      if (thisMin > 0) {
        thisMin = 0
        thisScale = fr(sumXL / sumL2)
      }
      let curError = 0
      for (let i = 0; i < n; i++) {
        let diff = fr(fr(fr(thisScale * Laux[i]!) + thisMin) - x[x0 + i]!)
        diff = useMad ? Math.abs(diff) : fr(diff * diff)
        curError = fr(curError + fr(weights[i]! * diff))
      }
      if (curError < bestError) {
        for (let i = 0; i < n; i++) L[l0 + i] = Laux[i]!
        bestError = curError
        scale = thisScale
        min = thisMin
      }
    }
  }
  return [scale, -min]
}

/** Sub-block j's 6-bit scale and min from the 12 packed bytes at `o` (ggml's get_scale_min_k4). */
export function scaleMinK4 (j: number, q: Uint8Array, o: number): [number, number] {
  if (j < 4) return [q[o + j]! & 63, q[o + j + 4]! & 63]
  return [(q[o + j + 4]! & 0xf) | ((q[o + j - 4]! >> 6) << 4), (q[o + j + 4]! >> 4) | ((q[o + j]! >> 6) << 4)]
}

/** The inverse of scaleMinK4 for the eight sub-blocks of a q4_k / q5_k super-block. */
export function packScaleMinK4 (ls: ArrayLike<number>, lm: ArrayLike<number>, q: Uint8Array, o: number): void {
  q.fill(0, o, o + 12)
  for (let j = 0; j < 8; j++) {
    if (j < 4) {
      q[o + j] = ls[j]!
      q[o + j + 4] = lm[j]!
    } else {
      q[o + j + 4] = (ls[j]! & 0xf) | ((lm[j]! & 0xf) << 4)
      q[o + j - 4]! |= (ls[j]! >> 4) << 6
      q[o + j]! |= (lm[j]! >> 4) << 6
    }
  }
}

/**
 * The eight sub-block scales and mins of a q4_k / q5_k super-block (x from x0), as
 * quantize_row_q4_K_ref / q5_K_ref find them: make_qkx2_quants per sub-block of 32, with weights
 * rms + |x|. Fills L with the levels; returns the scales and mins.
 */
export function kSubBlocks (x: Float32Array, x0: number, nmax: number, rmin: number, nstep: number, L: Uint8Array): { scales: Float32Array, mins: Float32Array } {
  const scales = new Float32Array(8)
  const mins = new Float32Array(8)
  const weights = new Float32Array(32)
  const Laux = new Uint8Array(32)
  for (let j = 0; j < 8; j++) {
    let sumX2 = 0
    for (let l = 0; l < 32; l++) { const v = x[x0 + 32 * j + l]!; sumX2 = fr(sumX2 + fr(v * v)) }
    const avX = fr(Math.sqrt(fr(sumX2 / 32)))
    for (let l = 0; l < 32; l++) weights[l] = fr(avX + Math.abs(x[x0 + 32 * j + l]!))
    const [scale, min] = makeQkx2Quants(32, nmax, x, x0 + 32 * j, weights, L, 32 * j, Laux, rmin, 0.1, nstep, false)
    scales[j] = scale
    mins[j] = min
  }
  return { scales, mins }
}

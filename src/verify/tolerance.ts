/**
 * How far apart two honest computations of the same span may be. Honest backends do not agree bit
 * for bit (ref vs wasm, threads, chunked prefill vs token by token, f16 on the wire), so outputs are
 * compared by the largest relative L2 distance of any row, against a tolerance calibrated on those
 * differences (bench/verify.ts prints the calibration; measured on stories260K and a 135M-shaped
 * model, spans of 3 and 10 blocks):
 *
 *   weights     wire   honest worst case (max row rel. L2)                      tolerance
 *   float       f32    2.3e-6 (ref vs wasm, 1/2 threads, chunked)               2e-5
 *   float       f16    2.5e-4 (both sides rounded to f16)                       1e-3
 *   float       i8     2.5e-7 on stories260K (ref vs wasm, 1,200 rows: no       2e-2
 *                      value rounded to another step); a value that does moves
 *                      its row by at most 1/127 of the row's norm, so 2e-2 allows
 *                      a few such flips per row
 *   quantized   any    6.2e-2 on stories260K, 6.4e-3 at 135M (ref keeps f32     0.15
 *                      activations where wasm quantizes them to int8, as
 *                      llama.cpp does; wasm vs wasm: 7e-3 and 1e-6)
 *
 * The quantized tolerance is a detection floor: on quantized weights, noise below about 0.15 of a
 * row's size is not told from the difference between an int8-activation backend and ref.
 *
 * Each tolerance sits well above every honest difference seen and well below what a cheat does
 * (noise of relative size eps shows as a distance of about eps; a skipped layer, zeros or the input
 * echoed are distances near 1).
 */
import type { FrameDType } from '../tensor/index.ts'

export interface ToleranceKey {
  /** activations on the wire */
  readonly dtype: FrameDType
  /** some weight of the span is stored quantized (Q8_0, Q4_0...) */
  readonly quantized: boolean
}

export const TOLERANCES = { floatF32: 2e-5, floatF16: 1e-3, floatI8: 2e-2, quantized: 0.15 } as const

export function tolerance (key: ToleranceKey): number {
  if (key.quantized) return TOLERANCES.quantized
  return key.dtype === 'i8' ? TOLERANCES.floatI8 : key.dtype === 'f16' ? TOLERANCES.floatF16 : TOLERANCES.floatF32
}

/** Per row of (rows, dim) `a` and `b`: ||a − b|| / ||b|| (0 for two zero rows, 1 if only b is zero... infinity-safe). */
export function rowDistances (a: Float32Array, b: Float32Array, dim: number): Float64Array {
  const rows = Math.min(a.length, b.length) / dim
  const out = new Float64Array(rows)
  for (let r = 0; r < rows; r++) {
    let diff = 0
    let norm = 0
    for (let i = r * dim; i < (r + 1) * dim; i++) {
      const d = a[i]! - b[i]!
      diff += d * d
      norm += b[i]! * b[i]!
    }
    out[r] = norm > 0 ? Math.sqrt(diff / norm) : (diff > 0 ? Infinity : 0)
  }
  return out
}

/** The largest row distance (Infinity if the shapes differ). */
export function distance (a: Float32Array, b: Float32Array, dim: number): number {
  if (a.length !== b.length) return Infinity
  let worst = 0
  for (const d of rowDistances(a, b, dim)) if (!(d <= worst)) worst = d
  return worst
}

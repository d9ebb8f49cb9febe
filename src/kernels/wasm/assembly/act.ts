// Activations quantized to 8 bits for integer dot products, as llama.cpp quantizes them: one scale
// per block of 32 for the 32-block formats (its Q8_0), one per 256 for the K-quants (its Q8_K), so
// their kernels sum whole super-blocks in integers. For x (n, inDim) f32, inDim % group == 0,
// nb = inDim / 32 blocks per row:
//   xd (n, nb) f32   each block's scale d = max|x| / 127 over its group (repeated per block of 32)
//   xs (n, nb, 2) i32  Σ q over each half (16 values) of the block (zero points, offsets, mins)
//   xq               the quants q = round(x / d) in [-127, 127], in one of two layouts:
//     ACT_I16 (n, inDim) int16, per block [odd of 0..15, even of 0..15, odd of 16..31, even of
//       16..31]: read as int16 lanes, weight bytes and nibbles come out in this order by shifts and
//       masks alone (i32x4.dot_i16x8_s against them; see the format files).
//     ACT_I8 (n, inDim) int8 in natural order, for i32x4.relaxed_dot_i8x16_i7x16_add_s against
//       weights in [0, 127] (relaxed-SIMD builds).
import { hsumI } from './simd'

export const ACT_I16: i32 = 0
export const ACT_I8: i32 = 1

/** max |x| over the 32 f32 at p, as a vector whose lanes 0 and 1 hold its candidates. */
@inline function absMax32 (p: usize): v128 {
  const a = f32x4.max(f32x4.max(f32x4.abs(v128.load(p)), f32x4.abs(v128.load(p, 16))), f32x4.max(f32x4.abs(v128.load(p, 32)), f32x4.abs(v128.load(p, 48))))
  const b = f32x4.max(f32x4.max(f32x4.abs(v128.load(p, 64)), f32x4.abs(v128.load(p, 80))), f32x4.max(f32x4.abs(v128.load(p, 96)), f32x4.abs(v128.load(p, 112))))
  const m = f32x4.max(a, b)
  return f32x4.max(m, v128.shuffle<f32>(m, m, 2, 3, 0, 1))
}

export function quantizeActivations (xq: usize, xd: usize, xs: usize, x: usize, n: i32, inDim: i32, layout: i32, group: i32): void {
  const nBlocks = n * (inDim >> 5)
  const per = group >> 5 // blocks per scale
  let d: f32 = 0
  for (let b = 0; b < nBlocks; b++) {
    const p = x + (<usize>b << 7)
    if (b % per == 0) {
      let m = absMax32(p)
      for (let k = 1; k < per; k++) m = f32x4.max(m, absMax32(p + (<usize>k << 7)))
      d = max(f32x4.extract_lane(m, 0), f32x4.extract_lane(m, 1)) / 127
    }
    const v0 = v128.load(p); const v1 = v128.load(p, 16); const v2 = v128.load(p, 32); const v3 = v128.load(p, 48)
    const v4 = v128.load(p, 64); const v5 = v128.load(p, 80); const v6 = v128.load(p, 96); const v7 = v128.load(p, 112)
    const id = f32x4.splat(d != 0 ? 1 / d : 0)
    store<f32>(xd + (<usize>b << 2), d)
    const n0 = i16x8.narrow_i32x4_s(qi(v0, id), qi(v1, id)) // elements 0..7
    const n1 = i16x8.narrow_i32x4_s(qi(v2, id), qi(v3, id))
    const n2 = i16x8.narrow_i32x4_s(qi(v4, id), qi(v5, id))
    const n3 = i16x8.narrow_i32x4_s(qi(v6, id), qi(v7, id))
    store<i32>(xs + (<usize>b << 3), hsumI(i32x4.extadd_pairwise_i16x8_s(i16x8.add(n0, n1))))
    store<i32>(xs + (<usize>b << 3), hsumI(i32x4.extadd_pairwise_i16x8_s(i16x8.add(n2, n3))), 4)
    if (layout == ACT_I8) {
      const q = xq + (<usize>b << 5)
      v128.store(q, i8x16.narrow_i16x8_s(n0, n1))
      v128.store(q, i8x16.narrow_i16x8_s(n2, n3), 16)
    } else {
      const q = xq + (<usize>b << 6)
      v128.store(q, v128.shuffle<i16>(n0, n1, 1, 3, 5, 7, 9, 11, 13, 15))
      v128.store(q, v128.shuffle<i16>(n0, n1, 0, 2, 4, 6, 8, 10, 12, 14), 16)
      v128.store(q, v128.shuffle<i16>(n2, n3, 1, 3, 5, 7, 9, 11, 13, 15), 32)
      v128.store(q, v128.shuffle<i16>(n2, n3, 0, 2, 4, 6, 8, 10, 12, 14), 48)
    }
  }
}

@inline function qi (v: v128, id: v128): v128 {
  return i32x4.trunc_sat_f32x4_s(f32x4.nearest(f32x4.mul(v, id)))
}

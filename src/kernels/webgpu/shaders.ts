/**
 * The WGSL of the webgpu backend. Every shader reads its sizes from a uniform block at binding 0,
 * then its read-only storage buffers, then the one buffer it writes (in that order, so the backend
 * binds them by position). Weights of every dtype are bound as raw bytes (array<u32>) and decoded
 * per element by `weight(e)`: the element index e runs over the whole tensor, row-major.
 *
 * Decoding is exact: f16 and bf16 are rebuilt bit by bit (subnormals, infinities and NaN included,
 * whatever the adapter's own f16 conversion does), block formats multiply an exact f16 scale by a
 * small integer, as the `ref` backend does.
 */
import type { DType } from '../../tensor/index.ts'

/** Weight dtypes the shaders decode. */
export const WEBGPU_WEIGHT_TYPES: readonly DType[] = ['f32', 'f16', 'bf16', 'q8_0', 'q4_0']

export const WORKGROUP = 64

const BYTES = /* wgsl */`
fn byteAt (b: u32) -> u32 { return (w[b >> 2u] >> ((b & 3u) * 8u)) & 0xffu; }
fn f16At (b: u32) -> f32 { return f16ToF32(byteAt(b) | (byteAt(b + 1u) << 8u)); }
fn f16ToF32 (h: u32) -> f32 {
  let sign = (h & 0x8000u) << 16u;
  let e = (h >> 10u) & 0x1fu;
  let m = h & 0x3ffu;
  if (e == 0u) { return bitcast<f32>(sign | bitcast<u32>(f32(m) * 5.9604644775390625e-8)); } // m × 2^-24
  if (e == 31u) { return bitcast<f32>(sign | 0x7f800000u | (m << 13u)); }
  return bitcast<f32>(sign | ((e + 112u) << 23u) | (m << 13u));
}
`

/** `fn weight (e: u32) -> f32` for a dtype, over `w: array<u32>` (rowLen = elements per row). */
function weightFn (dtype: DType): string {
  switch (dtype) {
    case 'f32': return 'fn weight (e: u32, rowLen: u32) -> f32 { return bitcast<f32>(w[e]); }'
    case 'f16': return `${BYTES}
fn weight (e: u32, rowLen: u32) -> f32 { return f16ToF32((w[e >> 1u] >> ((e & 1u) * 16u)) & 0xffffu); }`
    case 'bf16': return 'fn weight (e: u32, rowLen: u32) -> f32 { return bitcast<f32>(((w[e >> 1u] >> ((e & 1u) * 16u)) & 0xffffu) << 16u); }'
    case 'q8_0': return `${BYTES}
// blocks of 32: an f16 scale, then 32 int8
fn weight (e: u32, rowLen: u32) -> f32 {
  let r = e / rowLen; let j = e % rowLen;
  let base = r * (rowLen / 32u) * 34u + (j / 32u) * 34u;
  let q = bitcast<i32>(byteAt(base + 2u + j % 32u) << 24u) >> 24u;
  return f16At(base) * f32(q);
}`
    case 'q4_0': return `${BYTES}
// blocks of 32: an f16 scale, then 16 bytes; element k < 16 is byte k's low nibble, k >= 16 byte k-16's high one, minus 8
fn weight (e: u32, rowLen: u32) -> f32 {
  let r = e / rowLen; let j = e % rowLen;
  let base = r * (rowLen / 32u) * 18u + (j / 32u) * 18u;
  let k = j % 32u;
  let q = select(byteAt(base + 2u + k) & 0xfu, byteAt(base + 2u + k - 16u) >> 4u, k >= 16u);
  return f16At(base) * (f32(q) - 8.0);
}`
    default: throw new Error(`no webgpu decoder for ${dtype}`)
  }
}

/** main's builtins: the workgroup's id, the invocation's id in it, and how many workgroups there are. */
const MAIN_ARGS = '@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>'

/**
 * WGSL statements leaving in partial[0] the workgroup's reduction of each invocation's `value`
 * by `combine` (an expression of a and b): a tree over `partial`, WORKGROUP wide.
 */
function reduce (value: string, combine: string): string {
  return `partial[lid.x] = ${value};
    workgroupBarrier();
    for (var k = ${WORKGROUP / 2}u; k > 0u; k >>= 1u) {
      if (lid.x < k) { let a = partial[lid.x]; let b = partial[lid.x + k]; partial[lid.x] = ${combine}; }
      workgroupBarrier();
    }`
}

/** out[i, r] = Σ_j w[r, j] · x[i, j]: one workgroup per (output row, token), a tree sum over j. */
export function matmulShader (dtype: DType): string {
  return /* wgsl */`
struct P { n: u32, outDim: u32, inDim: u32, pad: u32 }
@group(0) @binding(0) var<uniform> p: P;
@group(0) @binding(1) var<storage, read> x: array<f32>;   // (n, inDim)
@group(0) @binding(2) var<storage, read> w: array<u32>;   // (outDim, inDim) of ${dtype}
@group(0) @binding(3) var<storage, read_write> out: array<f32>; // (n, outDim)
var<workgroup> partial: array<f32, ${WORKGROUP}>;
${weightFn(dtype)}
@compute @workgroup_size(${WORKGROUP})
fn main (${MAIN_ARGS}) {
  let i = wid.y;
  for (var r = wid.x; r < p.outDim; r += groups.x) {
    var s = 0.0;
    for (var j = lid.x; j < p.inDim; j += ${WORKGROUP}u) { s += weight(r * p.inDim + j, p.inDim) * x[i * p.inDim + j]; }
    ${reduce('s', 'a + b')}
    if (lid.x == 0u) { out[i * p.outDim + r] = partial[0]; }
    workgroupBarrier();
  }
}`
}

/** The index of this invocation in a 1-D job dispatched as (x, y) workgroups of WORKGROUP. */
const FLAT = `let e = (wid.y * groups.x + wid.x) * ${WORKGROUP}u + lid.x;`

/** out[i, j] = table[ids[i], j] as f32. */
export function getRowsShader (dtype: DType): string {
  return /* wgsl */`
struct P { count: u32, dim: u32, pad0: u32, pad1: u32 }
@group(0) @binding(0) var<uniform> p: P;
@group(0) @binding(1) var<storage, read> ids: array<u32>;
@group(0) @binding(2) var<storage, read> w: array<u32>;   // (rows, dim) of ${dtype}
@group(0) @binding(3) var<storage, read_write> out: array<f32>; // (count, dim)
${weightFn(dtype)}
@compute @workgroup_size(${WORKGROUP})
fn main (${MAIN_ARGS}) {
  ${FLAT}
  if (e >= p.count * p.dim) { return; }
  out[e] = weight(ids[e / p.dim] * p.dim + e % p.dim, p.dim);
}`
}

/** Elementwise ops over `len` values: x[e] op= y[e] (add), x[e] += b[e % dim] (addBias), silu(g)·u (siluMul). */
export function elementwiseShader (op: 'add' | 'addBias' | 'siluMul'): string {
  const body = {
    add: 'x[e] = x[e] + y[e];',
    addBias: 'x[e] = x[e] + y[e % p.dim];',
    siluMul: 'let g = x[e]; x[e] = (g / (1.0 + exp(-g))) * y[e];'
  }[op]
  return /* wgsl */`
struct P { len: u32, dim: u32, pad0: u32, pad1: u32 }
@group(0) @binding(0) var<uniform> p: P;
@group(0) @binding(1) var<storage, read> y: array<f32>;
@group(0) @binding(2) var<storage, read_write> x: array<f32>;
@compute @workgroup_size(${WORKGROUP})
fn main (${MAIN_ARGS}) {
  ${FLAT}
  if (e >= p.len) { return; }
  ${body}
}`
}

/** out[i] = x[i] / sqrt(mean(x[i]²) + eps) · weight: one workgroup per row of dim. */
export const RMSNORM = /* wgsl */`
struct P { n: u32, dim: u32, eps: f32, pad: u32 }
@group(0) @binding(0) var<uniform> p: P;
@group(0) @binding(1) var<storage, read> x: array<f32>;      // (n, dim)
@group(0) @binding(2) var<storage, read> weight: array<f32>; // (dim)
@group(0) @binding(3) var<storage, read_write> out: array<f32>; // (n, dim)
var<workgroup> partial: array<f32, ${WORKGROUP}>;
@compute @workgroup_size(${WORKGROUP})
fn main (${MAIN_ARGS}) {
  for (var r = wid.x; r < p.n; r += groups.x) {
    var ss = 0.0;
    for (var j = lid.x; j < p.dim; j += ${WORKGROUP}u) { let v = x[r * p.dim + j]; ss += v * v; }
    ${reduce('ss', 'a + b')}
    let scale = 1.0 / sqrt(partial[0] / f32(p.dim) + p.eps);
    for (var j = lid.x; j < p.dim; j += ${WORKGROUP}u) { out[r * p.dim + j] = weight[j] * (scale * x[r * p.dim + j]); }
    workgroupBarrier();
  }
}`

/** Rotates pairs in place with angles the backend computed in f64: cs (n, half, 2) = cos, sin. */
export const ROPE = /* wgsl */`
struct P { n: u32, nHeads: u32, headDim: u32, half: u32, neox: u32, pad0: u32, pad1: u32, pad2: u32 }
@group(0) @binding(0) var<uniform> p: P;
@group(0) @binding(1) var<storage, read> cs: array<f32>;
@group(0) @binding(2) var<storage, read_write> x: array<f32>; // (n, nHeads * headDim)
@compute @workgroup_size(${WORKGROUP})
fn main (${MAIN_ARGS}) {
  ${FLAT}
  if (e >= p.n * p.nHeads * p.half) { return; }
  let k = e % p.half;
  let h = (e / p.half) % p.nHeads;
  let i = e / (p.half * p.nHeads);
  let base = i * p.nHeads * p.headDim + h * p.headDim;
  // interleaved pairs (2k, 2k+1); neox pairs (k, k + half)
  let a = select(base + 2u * k, base + k, p.neox == 1u);
  let b = select(a + 1u, a + p.half, p.neox == 1u);
  let c = cs[(i * p.half + k) * 2u];
  let s = cs[(i * p.half + k) * 2u + 1u];
  let v0 = x[a];
  let v1 = x[b];
  x[a] = v0 * c - v1 * s;
  x[b] = v0 * s + v1 * c;
}`

const ATTENTION_PARAMS = 'struct P { n: u32, pos0: u32, nHeads: u32, nKvHeads: u32, headDim: u32, span: u32, scale: f32, pad: u32 }'

/** Attention, pass 1: scores (n, nHeads, span) = q · k / sqrt(headDim) for the cache rows each query sees. */
export const ATTENTION_SCORES = /* wgsl */`
${ATTENTION_PARAMS}
@group(0) @binding(0) var<uniform> p: P;
@group(0) @binding(1) var<storage, read> q: array<f32>; // (n, nHeads * headDim)
@group(0) @binding(2) var<storage, read> k: array<f32>; // (maxLen, nKvHeads * headDim)
@group(0) @binding(3) var<storage, read_write> scores: array<f32>; // (n, nHeads, span)
@compute @workgroup_size(${WORKGROUP})
fn main (${MAIN_ARGS}) {
  ${FLAT}
  if (e >= p.n * p.nHeads * p.span) { return; }
  let t = e % p.span;
  let h = (e / p.span) % p.nHeads;
  let i = e / (p.span * p.nHeads);
  if (t > p.pos0 + i) { return; }
  let qo = i * p.nHeads * p.headDim + h * p.headDim;
  let ko = t * p.nKvHeads * p.headDim + (h / (p.nHeads / p.nKvHeads)) * p.headDim;
  var s = 0.0;
  for (var d = 0u; d < p.headDim; d++) { s += q[qo + d] * k[ko + d]; }
  scores[e] = s * p.scale;
}`

/** Attention, pass 2: each (query, head) row of scores becomes its softmax over [0, pos0 + i]. */
export const ATTENTION_SOFTMAX = /* wgsl */`
${ATTENTION_PARAMS}
@group(0) @binding(0) var<uniform> p: P;
@group(0) @binding(1) var<storage, read_write> scores: array<f32>; // (n, nHeads, span)
var<workgroup> partial: array<f32, ${WORKGROUP}>;
@compute @workgroup_size(${WORKGROUP})
fn main (${MAIN_ARGS}) {
  for (var row = wid.x; row < p.n * p.nHeads; row += groups.x) {
    let i = row / p.nHeads;
    let last = p.pos0 + i;
    let o = row * p.span;
    var m = -3.4028234663852886e38;
    for (var t = lid.x; t <= last; t += ${WORKGROUP}u) { m = max(m, scores[o + t]); }
    ${reduce('m', 'max(a, b)')}
    let top = partial[0];
    workgroupBarrier();
    var sum = 0.0;
    for (var t = lid.x; t <= last; t += ${WORKGROUP}u) { let v = exp(scores[o + t] - top); scores[o + t] = v; sum += v; }
    ${reduce('sum', 'a + b')}
    let total = partial[0];
    for (var t = lid.x; t <= last; t += ${WORKGROUP}u) { scores[o + t] = scores[o + t] / total; }
    workgroupBarrier();
  }
}`

/** Attention, pass 3: out (n, nHeads * headDim) = Σ_t softmax[t] · v[t]. */
export const ATTENTION_VALUES = /* wgsl */`
${ATTENTION_PARAMS}
@group(0) @binding(0) var<uniform> p: P;
@group(0) @binding(1) var<storage, read> scores: array<f32>; // (n, nHeads, span)
@group(0) @binding(2) var<storage, read> v: array<f32>; // (maxLen, nKvHeads * headDim)
@group(0) @binding(3) var<storage, read_write> out: array<f32>; // (n, nHeads * headDim)
@compute @workgroup_size(${WORKGROUP})
fn main (${MAIN_ARGS}) {
  ${FLAT}
  if (e >= p.n * p.nHeads * p.headDim) { return; }
  let d = e % p.headDim;
  let h = (e / p.headDim) % p.nHeads;
  let i = e / (p.headDim * p.nHeads);
  let vo = (h / (p.nHeads / p.nKvHeads)) * p.headDim + d;
  let so = (i * p.nHeads + h) * p.span;
  var acc = 0.0;
  for (var t = 0u; t <= p.pos0 + i; t++) { acc += scores[so + t] * v[t * p.nKvHeads * p.headDim + vo]; }
  out[e] = acc;
}`

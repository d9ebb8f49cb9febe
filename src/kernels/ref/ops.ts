/**
 * The reference ops: plain loops, f64 accumulation, no tricks. They define what every other
 * backend must compute.
 */
import { decode, DTYPES } from '../../tensor/index.ts'
import type { AttentionParams, RopeParams, Tensor } from '../backend.ts'
import { rowLength } from '../backend.ts'
import { ShapeMismatchError } from '../../util/errors.ts'
import { asRef, f32Of } from './tensor.ts'

/** Decodes row `r` of a weight tensor of any dtype into `dst` (rowLen f32). */
export function weightRow (w: Tensor, r: number, dst: Float32Array): Float32Array {
  const t = asRef(w)
  const rowLen = rowLength(t)
  if (t.f32 !== undefined) return t.f32.subarray(r * rowLen, (r + 1) * rowLen)
  const { blockSize, blockBytes } = DTYPES[t.dtype]
  const rowBytes = (rowLen / blockSize) * blockBytes
  return decode(t.dtype, t.bytes.subarray(r * rowBytes, (r + 1) * rowBytes), rowLen, dst)
}

export function matmul (out: Tensor, x: Tensor, w: Tensor, n: number): void {
  const o = f32Of(out) // (n, outDim)
  const xs = f32Of(x) // (n, inDim)
  const [outDim, inDim] = w.shape as [number, number]
  const row = new Float32Array(inDim)
  for (let r = 0; r < outDim; r++) {
    const wr = weightRow(w, r, row)
    for (let i = 0; i < n; i++) {
      let sum = 0
      const xo = i * inDim
      for (let j = 0; j < inDim; j++) sum += wr[j]! * xs[xo + j]!
      o[i * outDim + r] = sum
    }
  }
}

export function addBias (x: Tensor, b: Tensor, n: number): void {
  const xs = f32Of(x)
  const bs = f32Of(b)
  const dim = bs.length
  for (let i = 0; i < n; i++) for (let j = 0; j < dim; j++) xs[i * dim + j]! += bs[j]!
}

export function add (x: Tensor, y: Tensor, n: number): void {
  const xs = f32Of(x)
  const ys = f32Of(y)
  const len = n * rowLength(x)
  for (let i = 0; i < len; i++) xs[i]! += ys[i]!
}

export function rmsnorm (out: Tensor, x: Tensor, weight: Tensor, n: number, eps: number): void {
  const o = f32Of(out)
  const xs = f32Of(x)
  const w = f32Of(weight)
  const dim = w.length
  if (n * dim > xs.length || n * dim > o.length) throw new ShapeMismatchError(`rmsnorm: ${n} rows of ${dim} do not fit [${x.shape.join(', ')}]`)
  for (let i = 0; i < n; i++) {
    let ss = 0
    for (let j = 0; j < dim; j++) ss += xs[i * dim + j]! ** 2
    const scale = 1 / Math.sqrt(ss / dim + eps)
    for (let j = 0; j < dim; j++) o[i * dim + j] = w[j]! * (scale * xs[i * dim + j]!)
  }
}

export function rope (x: Tensor, n: number, positions: Int32Array, p: RopeParams): void {
  const xs = f32Of(x)
  const { nHeads, headDim, ropeDim, theta, style, freqFactors } = p
  const half = ropeDim / 2
  for (let i = 0; i < n; i++) {
    const pos = positions[i]!
    for (let h = 0; h < nHeads; h++) {
      const base = i * nHeads * headDim + h * headDim
      for (let k = 0; k < half; k++) {
        const angle = pos * theta ** (-(2 * k) / ropeDim) / (freqFactors?.[k] ?? 1)
        const cos = Math.cos(angle)
        const sin = Math.sin(angle)
        // interleaved pairs (2k, 2k+1); neox pairs (k, k + half)
        const a = style === 'interleaved' ? base + 2 * k : base + k
        const b = style === 'interleaved' ? a + 1 : a + half
        const v0 = xs[a]!
        const v1 = xs[b]!
        xs[a] = v0 * cos - v1 * sin
        xs[b] = v0 * sin + v1 * cos
      }
    }
  }
}

export function attention (out: Tensor, q: Tensor, kCache: Tensor, vCache: Tensor, n: number, pos0: number, p: AttentionParams): void {
  const o = f32Of(out) // (n, nHeads * headDim)
  const qs = f32Of(q) // (n, nHeads * headDim)
  const ks = f32Of(kCache) // (maxLen, kvDim)
  const vs = f32Of(vCache) // (maxLen, kvDim)
  const { nHeads, nKvHeads, headDim } = p
  const kvDim = nKvHeads * headDim
  const group = nHeads / nKvHeads
  const scale = 1 / Math.sqrt(headDim)
  const att = new Float64Array(pos0 + n) // scores for one head
  for (let i = 0; i < n; i++) {
    const last = pos0 + i // attends to cache rows [0, last]
    for (let h = 0; h < nHeads; h++) {
      const qo = i * nHeads * headDim + h * headDim
      const kvo = Math.floor(h / group) * headDim
      let max = -Infinity
      for (let t = 0; t <= last; t++) {
        let s = 0
        for (let d = 0; d < headDim; d++) s += qs[qo + d]! * ks[t * kvDim + kvo + d]!
        att[t] = s * scale
        if (att[t]! > max) max = att[t]!
      }
      let sum = 0
      for (let t = 0; t <= last; t++) { att[t] = Math.exp(att[t]! - max); sum += att[t]! }
      for (let d = 0; d < headDim; d++) {
        let acc = 0
        for (let t = 0; t <= last; t++) acc += att[t]! * vs[t * kvDim + kvo + d]!
        o[qo + d] = acc / sum
      }
    }
  }
}

export function copyRows (dst: Tensor, dstRow: number, src: Tensor, n: number, srcRow = 0): void {
  const len = rowLength(src)
  const s = f32Of(src)
  const d = f32Of(dst)
  if ((srcRow + n) * len > s.length || (dstRow + n) * len > d.length) throw new ShapeMismatchError(`copyRows: ${n} rows from ${srcRow} to ${dstRow} do not fit`)
  d.set(s.subarray(srcRow * len, (srcRow + n) * len), dstRow * len)
}

export function siluMul (gate: Tensor, up: Tensor, n: number): void {
  const g = f32Of(gate)
  const u = f32Of(up)
  const len = n * rowLength(gate)
  for (let i = 0; i < len; i++) {
    const v = g[i]!
    g[i] = (v / (1 + Math.exp(-v))) * u[i]!
  }
}

export function getRows (out: Tensor, table: Tensor, ids: Int32Array): void {
  const o = f32Of(out)
  const dim = rowLength(table)
  const row = new Float32Array(dim)
  for (let i = 0; i < ids.length; i++) o.set(weightRow(table, ids[i]!, row), i * dim)
}

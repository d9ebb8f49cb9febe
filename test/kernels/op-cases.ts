/**
 * The conformance suite's op cases as data: each case runs a few ops on a backend and reads the
 * results back (asynchronously, so GPU backends run them too). The same cases run in Node on `ref`
 * and on the backend under test, which may live in a browser (bundled with this file): compare the
 * outputs with `compareCase`.
 */
import type { Backend, RopeStyle, Tensor } from '../../src/kernels/index.ts'
import { DTYPES, type DType, encode, isQuantized } from '../../src/tensor/index.ts'

/** Uniform values in [-scale, scale) from a seeded LCG. */
export function random (n: number, seed: number, scale = 1): Float32Array {
  const out = new Float32Array(n)
  let s = (seed * 2654435761 + 12345) >>> 0
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0
    out[i] = ((s / 4294967296) * 2 - 1) * scale
  }
  return out
}

export interface Bounds {
  /** largest |got - want| allowed, relative to max |want| */
  maxAbs: number
  /** largest Σ(got - want)² / Σ want² allowed */
  nmse: number
}

/** f32 arithmetic in another order than ref's f64. */
export const F32: Bounds = { maxAbs: 1e-5, nmse: 1e-11 }
/** Quantized weights against activations a backend may quantize to 8 bits per block, as llama.cpp does. */
export const Q_ACT: Bounds = { maxAbs: 3e-2, nmse: 1e-4 }
const SILU: Bounds = { maxAbs: 1e-6, nmse: 1e-12 }
const ATTENTION: Bounds = { maxAbs: 1e-5, nmse: 1e-10 }

export interface OpCase {
  readonly name: string
  /** 'exact': bit for bit; 'nonfinite': the same infinities and NaNs where ref has them */
  readonly bounds: Bounds | 'exact' | 'nonfinite'
  readonly run: (be: Backend) => Promise<Float32Array[]>
}

/** An f32 tensor holding `values`. */
function f32 (be: Backend, shape: number[], values: Float32Array): Tensor {
  return be.fromBytes('f32', shape, encode('f32', values))
}

/** Runs `body`, then frees what it made. */
async function using (be: Backend, body: (make: (t: Tensor) => Tensor) => Promise<Float32Array[]>): Promise<Float32Array[]> {
  const made: Tensor[] = []
  try {
    return await body(t => { made.push(t); return t })
  } finally {
    for (const t of made) be.free(t)
  }
}

// (tokens n, outDim, inDim); quantized types need inDim % 32 == 0. The last ones are large enough
// for a threaded backend to split them. Quantized shapes of 10+ tokens (4+ for the slowest formats) take
// the wasm GEMM (backend.ts GEMM_FROM), some with row counts that leave a partial tile of 4.
const F32_SHAPES: Array<[number, number, number]> = [[1, 1, 1], [1, 7, 5], [3, 17, 37], [2, 9, 172], [5, 33, 64], [4, 13, 7], [9, 130, 96], [1, 999, 288], [17, 64, 288]]
const Q_SHAPES: Array<[number, number, number]> = [[1, 1, 32], [1, 7, 64], [3, 17, 96], [2, 33, 288], [5, 130, 64], [9, 64, 160], [1, 999, 288], [21, 300, 96], [4, 5, 32], [13, 7, 64], [10, 66, 160]]
// K-quants: super-blocks of 256
const K_SHAPES: Array<[number, number, number]> = [[1, 1, 256], [1, 7, 512], [3, 17, 256], [2, 33, 768], [5, 130, 256], [9, 66, 512], [1, 999, 256], [21, 300, 256], [4, 3, 256], [11, 7, 512]]
const shapesOf = (dtype: DType): Array<[number, number, number]> => !isQuantized(dtype) ? F32_SHAPES : DTYPES[dtype].blockSize === 256 ? K_SHAPES : Q_SHAPES
/** A table's row length for the dtype's block size. */
const dimOf = (dtype: DType, plain: number, blocks: number): number => isQuantized(dtype) ? DTYPES[dtype].blockSize * blocks : plain

function matmulCases (dtype: DType): OpCase[] {
  return shapesOf(dtype).map(([n, outDim, inDim]) => ({
    name: `${dtype} matmul n=${n} ${outDim}x${inDim}`,
    bounds: isQuantized(dtype) ? Q_ACT : F32,
    run: async be => await using(be, async make => {
      const seed = n * 1000 + outDim * 10 + inDim
      const w = make(be.fromBytes(dtype, [outDim, inDim], encode(dtype, random(outDim * inDim, seed, 1 / Math.sqrt(inDim)))))
      const x = make(f32(be, [n + 1, inDim], random((n + 1) * inDim, seed + 1)))
      const out = make(f32(be, [n + 1, outDim], new Float32Array((n + 1) * outDim).fill(7))) // row n must stay untouched
      be.matmul(out, x, w, n)
      return [await be.readAsync(out)]
    })
  }))
}

function getRowsCase (dtype: DType): OpCase {
  return {
    name: `${dtype} getRows`,
    bounds: 'exact',
    run: async be => await using(be, async make => {
      const [rows, dim] = [11, dimOf(dtype, 37, 3)]
      const values = random(rows * dim, 5, 2)
      for (let j = 0; j < dim; j++) { values[dim + j]! *= 1e-7; values[2 * dim + j]! *= 3e4 } // f16 subnormal and large block scales
      const table = make(be.fromBytes(dtype, [rows, dim], encode(dtype, values)))
      const out = make(be.zeros([4, dim]))
      be.getRows(out, table, Int32Array.of(3, 0, 10, 3))
      return [await be.readAsync(out)]
    })
  }
}

/** f16 tables with infinities, NaN and a subnormal read back exactly. */
const f16Specials = (be: Backend, make: (t: Tensor) => Tensor): Tensor => {
  const values = random(4 * 40, 3)
  values[5] = Infinity; values[47] = -Infinity; values[90] = NaN; values[100] = 6e-8 // a subnormal
  return make(be.fromBytes('f16', [4, 40], encode('f16', values)))
}
const f16Rows: OpCase = {
  name: 'f16 rows with infinities and NaN',
  bounds: 'exact',
  run: async be => await using(be, async make => {
    const rows = make(be.zeros([4, 40]))
    be.getRows(rows, f16Specials(be, make), Int32Array.of(0, 1, 2, 3))
    return [await be.readAsync(rows)]
  })
}
/** ... and their products are infinite or NaN where ref's are */
const f16Products: OpCase = {
  name: 'f16 products with infinities and NaN',
  bounds: 'nonfinite',
  run: async be => await using(be, async make => {
    const x = make(f32(be, [1, 40], random(40, 4)))
    const o = make(be.zeros([1, 4]))
    be.matmul(o, x, f16Specials(be, make), 1)
    return [await be.readAsync(o)]
  })
}

function normCases (): OpCase[] {
  return ([[1, 1], [3, 7], [2, 64], [5, 173]] as Array<[number, number]>).flatMap(([n, dim]) => {
    /** x, y, w; then rmsnorm → o, siluMul(x, y), add(x, y), addBias(x, w), reading after each op */
    const steps = async (be: Backend): Promise<Float32Array[]> => await using(be, async make => {
      const x = make(f32(be, [n, dim], random(n * dim, dim, 3)))
      const y = make(f32(be, [n, dim], random(n * dim, dim + 1, 3)))
      const w = make(f32(be, [dim], random(dim, dim + 2)))
      const o = make(be.zeros([n, dim]))
      be.rmsnorm(o, x, w, n, 1e-5)
      const out = [await be.readAsync(o)]
      be.siluMul(x, y, n); out.push(await be.readAsync(x))
      be.add(x, y, n); out.push(await be.readAsync(x))
      be.addBias(x, w, n); out.push(await be.readAsync(x))
      return out
    })
    const pick = (k: number) => async (be: Backend): Promise<Float32Array[]> => [(await steps(be))[k]!]
    return [
      { name: `rmsnorm ${n}x${dim}`, bounds: F32, run: pick(0) },
      { name: `siluMul ${n}x${dim}`, bounds: SILU, run: pick(1) },
      { name: `add ${n}x${dim}`, bounds: F32, run: pick(2) },
      { name: `addBias ${n}x${dim}`, bounds: F32, run: pick(3) }
    ]
  })
}

const perHeadNorm: OpCase = {
  name: 'rmsnorm per head, in place',
  bounds: F32,
  run: async be => await using(be, async make => {
    const x = make(f32(be, [3, 4 * 16], random(3 * 64, 11, 2)))
    const w = make(f32(be, [16], random(16, 12)))
    be.rmsnorm(x, x, w, 3 * 4, 1e-6)
    return [await be.readAsync(x)]
  })
}

const siluExtremes: OpCase = {
  name: 'siluMul at large magnitudes',
  bounds: SILU,
  run: async be => await using(be, async make => {
    const v = Float32Array.of(-100, -30, -5, -1e-3, 0, 1e-3, 5, 30, 100, 1e4, -1e4)
    const g = make(f32(be, [1, v.length], v))
    const u = make(f32(be, [1, v.length], new Float32Array(v.length).fill(1)))
    be.siluMul(g, u, 1)
    return [await be.readAsync(g)]
  })
}

function ropeCases (): OpCase[] {
  const cases: Array<[RopeStyle, number, number, number, number]> = [ // style, n, nHeads, headDim, ropeDim
    ['interleaved', 1, 1, 2, 2], ['interleaved', 3, 6, 48, 48], ['neox', 3, 6, 48, 48], ['neox', 2, 3, 10, 6], ['interleaved', 4, 5, 12, 8]
  ]
  return cases.map(([style, n, nHeads, headDim, ropeDim]) => ({
    name: `rope ${style} ${n}x${nHeads}x${headDim}/${ropeDim}`,
    bounds: F32,
    run: async be => await using(be, async make => {
      const x = make(f32(be, [n, nHeads * headDim], random(n * nHeads * headDim, headDim)))
      const positions = Int32Array.from({ length: n }, (_, i) => [0, 7, 1000, 3][i]!)
      const p = { nHeads, headDim, ropeDim, theta: 10000, style }
      be.rope(x, n, positions, p)
      const out = [await be.readAsync(x)]
      // a second call with other positions must not reuse the first one's angles
      positions.reverse()
      be.rope(x, n, positions, { ...p, theta: 500000 }); out.push(await be.readAsync(x))
      // Llama 3.x frequency factors, then none again
      be.rope(x, n, positions, { ...p, freqFactors: Array.from({ length: ropeDim / 2 }, (_, k) => 1 + k * 0.75) }); out.push(await be.readAsync(x))
      be.rope(x, n, positions, p); out.push(await be.readAsync(x))
      return out
    })
  }))
}

function attentionCases (): OpCase[] {
  const cases: Array<[number, number, number, number, number]> = [ // n, pos0, nHeads, nKvHeads, headDim
    [1, 0, 1, 1, 1], [1, 9, 6, 2, 5], [7, 0, 4, 4, 8], [5, 11, 9, 3, 64], [1, 130, 8, 4, 8], [3, 2, 6, 6, 48], [9, 40, 8, 2, 64]
  ]
  return cases.map(([n, pos0, nHeads, nKvHeads, headDim]) => ({
    name: `attention n=${n} pos0=${pos0} ${nHeads}/${nKvHeads}x${headDim}`,
    bounds: ATTENTION,
    run: async be => await using(be, async make => {
      const maxLen = pos0 + n + 2
      const kvDim = nKvHeads * headDim
      const seed = n + pos0 * 7 + headDim
      const q = make(f32(be, [n, nHeads * headDim], random(n * nHeads * headDim, seed, 2)))
      const k = make(f32(be, [maxLen, kvDim], random(maxLen * kvDim, seed + 1, 2)))
      const v = make(f32(be, [maxLen, kvDim], random(maxLen * kvDim, seed + 2)))
      const o = make(be.zeros([n, nHeads * headDim]))
      be.attention(o, q, k, v, n, pos0, { nHeads, nKvHeads, headDim })
      return [await be.readAsync(o)]
    })
  }))
}

const copyRows: OpCase = {
  name: 'copyRows into the middle of a cache',
  bounds: 'exact',
  run: async be => await using(be, async make => {
    const dst = make(f32(be, [6, 5], random(30, 1)))
    const src = make(f32(be, [3, 5], random(15, 2)))
    be.copyRows(dst, 2, src, 2)
    const first = await be.readAsync(dst)
    be.copyRows(dst, 0, src, 2, 1) // rows 1 and 2 of src to the top
    return [first, await be.readAsync(dst)]
  })
}

const storage: OpCase = {
  name: 'zeros, writes at an offset, reads of a part, special values',
  bounds: 'exact',
  run: async be => await using(be, async make => {
    const t = make(be.zeros([3, 5]))
    const out = [await be.readAsync(t)]
    be.write(t, Float32Array.of(1, 2, 3), 4)
    out.push(await be.readAsync(t, 3, 3), await be.readAsync(t))
    const u = make(f32(be, [2, 2], Float32Array.of(1.5, -2, 3, 4e-20)))
    out.push(await be.readAsync(u))
    return out
  })
}

/** Every case for a backend taking `weightTypes` (only those `ref` takes too). */
export function opCases (weightTypes: readonly DType[]): OpCase[] {
  return [
    storage,
    ...weightTypes.flatMap(matmulCases),
    ...weightTypes.map(getRowsCase),
    ...(weightTypes.includes('f16') ? [f16Rows, f16Products] : []),
    ...normCases(), perHeadNorm, siluExtremes, ...ropeCases(), ...attentionCases(), copyRows
  ]
}

/** Why `got` is not close enough to `want` under `bounds`, or undefined if it is. */
export function mismatch (got: Float32Array, want: Float32Array, bounds: OpCase['bounds']): string | undefined {
  if (got.length !== want.length) return `${got.length} values, want ${want.length}`
  if (bounds === 'exact') {
    const i = got.findIndex((v, j) => !Object.is(v, want[j]))
    return i < 0 ? undefined : `element ${i} is ${got[i]}, want ${want[i]} (bit for bit)`
  }
  if (bounds === 'nonfinite') {
    const i = got.findIndex((v, j) => Number.isFinite(want[j]!) ? !Number.isFinite(v) : !Object.is(v, want[j]))
    return i < 0 ? undefined : `element ${i} is ${got[i]}, want ${want[i]}`
  }
  let err = 0; let ref = 0; let maxDiff = 0; let maxWant = 0
  for (let i = 0; i < want.length; i++) {
    const d = got[i]! - want[i]!
    if (!Number.isFinite(got[i]!)) return `element ${i} is ${got[i]}, want ${want[i]}`
    err += d * d; ref += want[i]! * want[i]!
    maxDiff = Math.max(maxDiff, Math.abs(d)); maxWant = Math.max(maxWant, Math.abs(want[i]!))
  }
  const nmse = ref === 0 ? err : err / ref
  if (maxDiff > bounds.maxAbs * Math.max(maxWant, 1e-30)) return `max abs error ${maxDiff} > ${bounds.maxAbs} × ${maxWant}`
  if (nmse > bounds.nmse) return `NMSE ${nmse} > ${bounds.nmse}`
  return undefined
}

/**
 * The conformance suite every backend runs: each op against the `ref` oracle on random shapes,
 * odd sizes included, with max-abs and NMSE bounds. Call it from a test file with a factory:
 *   backendConformance('wasm', async () => await createBackend('wasm', { threads: 2 }))
 */
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { type Backend, RefBackend, type RopeStyle, type Tensor } from '../../src/kernels/index.ts'
import { BLOCK_SCALES, DTYPES, type DType, encode, isQuantized } from '../../src/tensor/index.ts'
import { GridError } from '../../src/util/errors.ts'

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
const F32: Bounds = { maxAbs: 1e-5, nmse: 1e-11 }
/** Quantized weights against activations a backend may quantize to 8 bits per block, as llama.cpp does. */
const Q_ACT: Bounds = { maxAbs: 3e-2, nmse: 1e-4 }

export function assertClose (got: Float32Array, want: Float32Array, bounds: Bounds, what: string): void {
  assert.equal(got.length, want.length, `${what}: length`)
  let err = 0; let ref = 0; let maxDiff = 0; let maxWant = 0
  for (let i = 0; i < want.length; i++) {
    const d = got[i]! - want[i]!
    if (!Number.isFinite(got[i]!)) assert.fail(`${what}: element ${i} is ${got[i]}, want ${want[i]}`)
    err += d * d; ref += want[i]! * want[i]!
    maxDiff = Math.max(maxDiff, Math.abs(d)); maxWant = Math.max(maxWant, Math.abs(want[i]!))
  }
  const nmse = ref === 0 ? err : err / ref
  assert.ok(maxDiff <= bounds.maxAbs * Math.max(maxWant, 1e-30), `${what}: max abs error ${maxDiff} > ${bounds.maxAbs} × ${maxWant}`)
  assert.ok(nmse <= bounds.nmse, `${what}: NMSE ${nmse} > ${bounds.nmse}`)
}

/** The same f32 values in both backends. */
function pair (a: Backend, b: Backend, shape: number[], values: Float32Array): [Tensor, Tensor] {
  const bytes = encode('f32', values)
  return [a.fromBytes('f32', shape, bytes), b.fromBytes('f32', shape, bytes.slice())]
}

export function backendConformance (name: string, create: () => Promise<Backend>): void {
  describe(`backend ${name} conforms to ref`, () => {
    let be: Backend
    const ref = new RefBackend()
    before(async () => { be = await create() })
    after(() => be.dispose())

    it('stores, reads, zeroes and frees f32 tensors', () => {
      const before = be.allocatedBytes()
      const t = be.zeros([3, 5])
      assert.deepEqual([...be.read(t)], new Array(15).fill(0))
      be.write(t, Float32Array.of(1, 2, 3), 4)
      assert.deepEqual([...be.read(t, 3, 3)], [0, 1, 2])
      const u = be.fromBytes('f32', [2, 2], encode('f32', Float32Array.of(1.5, -2, 3, 4e-20)))
      assert.deepEqual([...be.read(u)], [1.5, -2, 3, Math.fround(4e-20)])
      assert.ok(be.allocatedBytes() >= before + 76)
      be.free(t); be.free(u)
      assert.equal(be.allocatedBytes(), before)
    })

    it('refuses quantized rows that are not a multiple of the block size, and wrong byte counts', () => {
      for (const dtype of be.weightTypes.filter(isQuantized)) {
        assert.throws(() => be.fromBytes(dtype, [2, 33], new Uint8Array(100)), (e: unknown) => e instanceof GridError && e.code === 'SHAPE_MISMATCH')
        assert.throws(() => be.fromBytes(dtype, [2, 256], new Uint8Array(100)), (e: unknown) => e instanceof GridError && e.code === 'SHAPE_MISMATCH')
      }
      assert.throws(() => be.fromBytes('f32', [2, 3], new Uint8Array(20)), (e: unknown) => e instanceof GridError && e.code === 'SHAPE_MISMATCH')
    })

    const weightTypes = (): DType[] => be.weightTypes.filter(d => ref.weightTypes.includes(d))
    // (tokens n, outDim, inDim); quantized types need inDim % 32 == 0. The last ones are large
    // enough for a threaded backend to split them.
    const f32Shapes: Array<[number, number, number]> = [[1, 1, 1], [1, 7, 5], [3, 17, 37], [2, 9, 172], [5, 33, 64], [4, 13, 7], [9, 130, 96], [1, 999, 288], [17, 64, 288]]
    const qShapes: Array<[number, number, number]> = [[1, 1, 32], [1, 7, 64], [3, 17, 96], [2, 33, 288], [5, 130, 64], [9, 64, 160], [1, 999, 288], [21, 300, 96], [4, 5, 32]]
    // K-quants: super-blocks of 256
    const kShapes: Array<[number, number, number]> = [[1, 1, 256], [1, 7, 512], [3, 17, 256], [2, 33, 768], [5, 130, 256], [9, 66, 512], [1, 999, 256], [21, 300, 256], [4, 3, 256]]
    const shapesOf = (dtype: DType): Array<[number, number, number]> => !isQuantized(dtype) ? f32Shapes : DTYPES[dtype].blockSize === 256 ? kShapes : qShapes
    /** A table's row length for the dtype's block size. */
    const dimOf = (dtype: DType, plain: number, blocks: number): number => isQuantized(dtype) ? DTYPES[dtype].blockSize * blocks : plain

    it('matmul over every weight type, odd sizes, one token and many', () => {
      for (const dtype of weightTypes()) {
        for (const [n, outDim, inDim] of shapesOf(dtype)) {
          const seed = n * 1000 + outDim * 10 + inDim
          const wBytes = encode(dtype, random(outDim * inDim, seed, 1 / Math.sqrt(inDim)))
          const w = be.fromBytes(dtype, [outDim, inDim], wBytes)
          const wr = ref.fromBytes(dtype, [outDim, inDim], wBytes.slice())
          const [x, xr] = pair(be, ref, [n + 1, inDim], random((n + 1) * inDim, seed + 1))
          const out = be.zeros([n + 1, outDim])
          const outRef = ref.zeros([n + 1, outDim])
          be.write(out, Float32Array.from({ length: (n + 1) * outDim }, () => 7)) // row n must stay untouched
          ref.write(outRef, Float32Array.from({ length: (n + 1) * outDim }, () => 7))
          be.matmul(out, x, w, n)
          ref.matmul(outRef, xr, wr, n)
          assertClose(be.read(out), ref.read(outRef), isQuantized(dtype) ? Q_ACT : F32, `${dtype} matmul n=${n} ${outDim}x${inDim}`)
          for (const t of [w, x, out]) be.free(t)
        }
      }
    })

    it('getRows over every weight type', () => {
      for (const dtype of weightTypes()) {
        const [rows, dim] = [11, dimOf(dtype, 37, 3)]
        const values = random(rows * dim, 5, 2)
        for (let j = 0; j < dim; j++) { values[dim + j]! *= 1e-7; values[2 * dim + j]! *= 3e4 } // f16 subnormal and large block scales
        const bytes = encode(dtype, values)
        const table = be.fromBytes(dtype, [rows, dim], bytes)
        const tableRef = ref.fromBytes(dtype, [rows, dim], bytes.slice())
        const ids = Int32Array.of(3, 0, 10, 3)
        const out = be.zeros([4, dim])
        const outRef = ref.zeros([4, dim])
        be.getRows(out, table, ids)
        ref.getRows(outRef, tableRef, ids)
        assert.deepEqual(be.read(out), ref.read(outRef), `${dtype} getRows`)
        be.free(table); be.free(out)
      }
    })

    it('fromStream, where offered, stores what fromBytes stores', async () => {
      if (be.fromStream === undefined) return
      for (const dtype of weightTypes()) {
        const [rows, dim] = isQuantized(dtype) ? [DTYPES[dtype].blockSize === 256 ? 1200 : 3000, dimOf(dtype, 0, 3)] : [300, 37] // several pieces for the larger ones
        const bytes = encode(dtype, random(rows * dim, 9, 2))
        let offset = 0
        const streamed = await be.fromStream(dtype, [rows, dim], async dst => { dst.set(bytes.subarray(offset, offset + dst.length)); offset += dst.length })
        assert.equal(offset, bytes.length, `${dtype}: every byte read once`)
        const whole = be.fromBytes(dtype, [rows, dim], bytes)
        const ids = Int32Array.of(0, rows - 1, 1234 % rows, 7)
        const a = be.zeros([4, dim])
        const b = be.zeros([4, dim])
        be.getRows(a, streamed, ids)
        be.getRows(b, whole, ids)
        assert.deepEqual(be.read(a), be.read(b), `${dtype} fromStream`)
        for (const t of [streamed, whole, a, b]) be.free(t)
      }
    })

    it('f16 tables with infinities and NaN read back exactly, and their products match ref', () => {
      if (!be.weightTypes.includes('f16')) return
      const values = random(4 * 40, 3)
      values[5] = Infinity; values[47] = -Infinity; values[90] = NaN; values[100] = 6e-8 // a subnormal
      const bytes = encode('f16', values)
      const t = be.fromBytes('f16', [4, 40], bytes)
      const tr = ref.fromBytes('f16', [4, 40], bytes.slice())
      const ids = Int32Array.of(0, 1, 2, 3)
      const [a, ar] = pair(be, ref, [4, 40], new Float32Array(160))
      be.getRows(a, t, ids); ref.getRows(ar, tr, ids)
      assert.deepEqual(be.read(a), ref.read(ar))
      const [x, xr] = pair(be, ref, [1, 40], random(40, 4))
      const [o, or] = pair(be, ref, [1, 4], new Float32Array(4))
      be.matmul(o, x, t, 1); ref.matmul(or, xr, tr, 1)
      assert.deepEqual(be.read(o).map(v => Number.isFinite(v) ? 0 : v), ref.read(or).map(v => Number.isFinite(v) ? 0 : v))
      for (const u of [t, a, x, o]) be.free(u)
    })

    it('refuses quantized weights with infinite or NaN block scales (as llama.cpp does)', () => {
      for (const dtype of be.weightTypes.filter(isQuantized)) {
        const dim = DTYPES[dtype].blockSize
        const bytes = encode(dtype, random(2 * dim, 8))
        // the f16 scale of the second block: where each format keeps it
        const at = DTYPES[dtype].blockBytes + BLOCK_SCALES[dtype]![0]!
        bytes[at] = 0x00; bytes[at + 1] = 0x7c // +inf
        assert.throws(() => be.fromBytes(dtype, [2, dim], bytes), (e: unknown) => e instanceof GridError && e.code === 'BAD_MODEL_FILE', dtype)
      }
    })

    it('rmsnorm, add, addBias, siluMul on odd sizes', () => {
      for (const [n, dim] of [[1, 1], [3, 7], [2, 64], [5, 173]] as Array<[number, number]>) {
        const [x, xr] = pair(be, ref, [n, dim], random(n * dim, dim, 3))
        const [y, yr] = pair(be, ref, [n, dim], random(n * dim, dim + 1, 3))
        const [w, wr] = pair(be, ref, [dim], random(dim, dim + 2))
        const [o, or] = pair(be, ref, [n, dim], new Float32Array(n * dim))
        be.rmsnorm(o, x, w, n, 1e-5); ref.rmsnorm(or, xr, wr, n, 1e-5)
        assertClose(be.read(o), ref.read(or), F32, `rmsnorm ${n}x${dim}`)
        be.siluMul(x, y, n); ref.siluMul(xr, yr, n)
        assertClose(be.read(x), ref.read(xr), { maxAbs: 1e-6, nmse: 1e-12 }, `siluMul ${n}x${dim}`)
        be.add(x, y, n); ref.add(xr, yr, n)
        assertClose(be.read(x), ref.read(xr), F32, `add ${n}x${dim}`)
        be.addBias(x, w, n); ref.addBias(xr, wr, n)
        assertClose(be.read(x), ref.read(xr), F32, `addBias ${n}x${dim}`)
        for (const t of [x, y, w, o]) be.free(t)
      }
    })

    it('rmsnorm per head: rows of the weight\'s length inside longer rows, in place', () => {
      const [x, xr] = pair(be, ref, [3, 4 * 16], random(3 * 64, 11, 2))
      const [w, wr] = pair(be, ref, [16], random(16, 12))
      be.rmsnorm(x, x, w, 3 * 4, 1e-6); ref.rmsnorm(xr, xr, wr, 3 * 4, 1e-6)
      assertClose(be.read(x), ref.read(xr), F32, 'rmsnorm per head')
      assert.throws(() => be.rmsnorm(x, x, w, 13, 1e-6), (e: unknown) => e instanceof GridError && e.code === 'SHAPE_MISMATCH')
      be.free(x); be.free(w)
    })

    it('siluMul holds at large magnitudes', () => {
      const v = Float32Array.of(-100, -30, -5, -1e-3, 0, 1e-3, 5, 30, 100, 1e4, -1e4)
      const [g, gr] = pair(be, ref, [1, v.length], v)
      const [u, ur] = pair(be, ref, [1, v.length], new Float32Array(v.length).fill(1))
      be.siluMul(g, u, 1); ref.siluMul(gr, ur, 1)
      assertClose(be.read(g), ref.read(gr), { maxAbs: 1e-6, nmse: 1e-12 }, 'siluMul extremes')
      be.free(g); be.free(u)
    })

    it('rope in both styles, partial rotation, any positions', () => {
      const cases: Array<[RopeStyle, number, number, number, number]> = [ // style, n, nHeads, headDim, ropeDim
        ['interleaved', 1, 1, 2, 2], ['interleaved', 3, 6, 48, 48], ['neox', 3, 6, 48, 48], ['neox', 2, 3, 10, 6], ['interleaved', 4, 5, 12, 8]
      ]
      for (const [style, n, nHeads, headDim, ropeDim] of cases) {
        const [x, xr] = pair(be, ref, [n, nHeads * headDim], random(n * nHeads * headDim, headDim))
        const positions = Int32Array.from({ length: n }, (_, i) => [0, 7, 1000, 3][i]!)
        const p = { nHeads, headDim, ropeDim, theta: 10000, style }
        be.rope(x, n, positions, p); ref.rope(xr, n, positions, p)
        assertClose(be.read(x), ref.read(xr), F32, `rope ${style} ${n}x${nHeads}x${headDim}/${ropeDim}`)
        // a second call with other positions must not reuse the first one's angles
        positions.reverse()
        be.rope(x, n, positions, { ...p, theta: 500000 }); ref.rope(xr, n, positions, { ...p, theta: 500000 })
        assertClose(be.read(x), ref.read(xr), F32, `rope ${style} again`)
        // Llama 3.x frequency factors, then none again
        const freqFactors = Array.from({ length: ropeDim / 2 }, (_, k) => 1 + k * 0.75)
        be.rope(x, n, positions, { ...p, freqFactors }); ref.rope(xr, n, positions, { ...p, freqFactors })
        assertClose(be.read(x), ref.read(xr), F32, `rope ${style} with frequency factors`)
        be.rope(x, n, positions, p); ref.rope(xr, n, positions, p)
        assertClose(be.read(x), ref.read(xr), F32, `rope ${style} without them again`)
        be.free(x)
      }
    })

    it('attention with grouped heads, prefill and decode, odd head sizes', () => {
      const cases: Array<[number, number, number, number, number]> = [ // n, pos0, nHeads, nKvHeads, headDim
        [1, 0, 1, 1, 1], [1, 9, 6, 2, 5], [7, 0, 4, 4, 8], [5, 11, 9, 3, 64], [1, 130, 8, 4, 8], [3, 2, 6, 6, 48], [9, 40, 8, 2, 64]
      ]
      for (const [n, pos0, nHeads, nKvHeads, headDim] of cases) {
        const maxLen = pos0 + n + 2
        const kvDim = nKvHeads * headDim
        const seed = n + pos0 * 7 + headDim
        const [q, qr] = pair(be, ref, [n, nHeads * headDim], random(n * nHeads * headDim, seed, 2))
        const [k, kr] = pair(be, ref, [maxLen, kvDim], random(maxLen * kvDim, seed + 1, 2))
        const [v, vr] = pair(be, ref, [maxLen, kvDim], random(maxLen * kvDim, seed + 2))
        const [o, or] = pair(be, ref, [n, nHeads * headDim], new Float32Array(n * nHeads * headDim))
        const p = { nHeads, nKvHeads, headDim }
        be.attention(o, q, k, v, n, pos0, p); ref.attention(or, qr, kr, vr, n, pos0, p)
        assertClose(be.read(o), ref.read(or), { maxAbs: 1e-5, nmse: 1e-10 }, `attention n=${n} pos0=${pos0} ${nHeads}/${nKvHeads}x${headDim}`)
        for (const t of [q, k, v, o]) be.free(t)
      }
    })

    it('copyRows into the middle of a cache', () => {
      const [dst, dstRef] = pair(be, ref, [6, 5], random(30, 1))
      const [src, srcRef] = pair(be, ref, [3, 5], random(15, 2))
      be.copyRows(dst, 2, src, 2); ref.copyRows(dstRef, 2, srcRef, 2)
      assert.deepEqual(be.read(dst), ref.read(dstRef))
      be.free(dst); be.free(src)
    })
  })
}

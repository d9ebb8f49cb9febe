/**
 * The conformance suite every backend runs: each op against the `ref` oracle on random shapes,
 * odd sizes included, with max-abs and NMSE bounds. Call it from a test file with a factory:
 *   backendConformance('wasm', async () => await createBackend('wasm', { threads: 2 }))
 */
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { type Backend, RefBackend, type Tensor } from '../../src/kernels/index.ts'
import { type Bounds, mismatch, opCases, random } from './op-cases.ts'
import { BLOCK_SCALES, DTYPES, type DType, encode, isQuantized } from '../../src/tensor/index.ts'
import { GridError } from '../../src/util/errors.ts'

export { random }

/** Fails unless `got` is within `bounds` of `want`. */
export function assertClose (got: Float32Array, want: Float32Array, bounds: Bounds, what: string): void {
  const why = mismatch(got, want, bounds)
  if (why !== undefined) assert.fail(`${what}: ${why}`)
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
    /** A table's row length for the dtype's block size. */
    const dimOf = (dtype: DType, plain: number, blocks: number): number => isQuantized(dtype) ? DTYPES[dtype].blockSize * blocks : plain

    it('every op case (test/kernels/op-cases.ts) matches ref', async () => {
      const failed: string[] = []
      for (const c of opCases(weightTypes())) {
        const [got, want] = [await c.run(be), await c.run(ref)]
        got.forEach((g, i) => {
          const why = mismatch(g, want[i]!, c.bounds)
          if (why !== undefined) failed.push(`${c.name} (read ${i}): ${why}`)
        })
      }
      assert.deepEqual(failed, [])
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

    it('rmsnorm refuses rows that do not fit', () => {
      const x = be.zeros([3, 64])
      const w = be.zeros([16])
      assert.throws(() => be.rmsnorm(x, x, w, 13, 1e-6), (e: unknown) => e instanceof GridError && e.code === 'SHAPE_MISMATCH')
      be.free(x); be.free(w)
    })

    it('copyRows refuses source rows past the tensor', () => {
      const src = be.zeros([3, 8])
      const dst = be.zeros([6, 8])
      assert.throws(() => be.copyRows(dst, 0, src, 2, 2), (e: unknown) => e instanceof GridError && e.code === 'SHAPE_MISMATCH')
      assert.throws(() => be.copyRows(dst, 5, src, 2, 0), (e: unknown) => e instanceof GridError && e.code === 'SHAPE_MISMATCH')
      be.free(src); be.free(dst)
    })
  })
}

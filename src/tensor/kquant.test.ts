import { test } from 'node:test'
import assert from 'node:assert/strict'
import { DTYPES, type DType, byteSize, decode, encode } from './index.ts'
import { GGML_NAMES, INPUT_KINDS, blockInput, readGgmlBlocks } from '../../test/fixtures/ggml-blocks.ts'
import { nearestInt } from './kquant.ts'

const FORMATS = Object.keys(GGML_NAMES) as DType[]

function nmse (a: Float32Array, b: Float32Array): number {
  let num = 0; let den = 0
  for (let i = 0; i < a.length; i++) { num += (a[i]! - b[i]!) ** 2; den += a[i]! ** 2 }
  return num / den
}

test('block sizes match ggml (q5_0 22, q5_1 24, q2_k 84, q3_k 110, q4_k 144, q5_k 176, q6_k 210 bytes)', () => {
  const want: Partial<Record<DType, [number, number]>> = { q5_0: [32, 22], q5_1: [32, 24], q2_k: [256, 84], q3_k: [256, 110], q4_k: [256, 144], q5_k: [256, 176], q6_k: [256, 210] }
  for (const [dtype, [size, bytes]] of Object.entries(want) as Array<[DType, [number, number]]>) {
    assert.equal(DTYPES[dtype].blockSize, size)
    assert.equal(DTYPES[dtype].blockBytes, bytes)
  }
  assert.equal(byteSize('q4_k', [3, 512]), 3 * 2 * 144)
  assert.throws(() => byteSize('q6_k', [2, 288]), { code: 'SHAPE_MISMATCH' })
})

test('nearestInt rounds half to even like ggml', () => {
  assert.deepEqual([0.5, 1.5, 2.5, -0.5, -1.5, 2.4999, 7.6].map(nearestInt), [0, 2, 2, 0, -2, 2, 8])
})

test('every format quantizes to the same bytes as llama.cpp (golden blocks from libggml)', () => {
  const golden = readGgmlBlocks()
  for (const dtype of FORMATS) {
    for (let kind = 0; kind < INPUT_KINDS; kind++) {
      const bytes = encode(dtype, blockInput(512, 100 + kind, kind))
      assert.equal(Buffer.from(bytes).toString('hex'), golden[dtype]![kind], `${dtype}, input kind ${kind}`)
    }
  }
})

test('round trips stay within each format\'s quantization error, fewer bits worse', () => {
  const x = blockInput(256 * 32, 7, 0)
  const bound: Partial<Record<DType, number>> = { q8_0: 1e-4, q6_k: 2e-3, q5_k: 5e-3, q5_1: 5e-3, q5_0: 5e-3, q4_k: 2e-2, q4_0: 2e-2, q3_k: 6e-2, q2_k: 0.2 }
  const errors: Partial<Record<DType, number>> = {}
  for (const dtype of FORMATS) {
    const e = errors[dtype] = nmse(x, decode(dtype, encode(dtype, x), x.length))
    assert.ok(e < bound[dtype]!, `${dtype} nmse ${e}`)
  }
  assert.ok(errors.q6_k! < errors.q5_k! && errors.q5_k! < errors.q4_k! && errors.q4_k! < errors.q3_k! && errors.q3_k! < errors.q2_k!)
  assert.ok(errors.q4_k! < errors.q4_0!, 'q4_k beats q4_0 on the same bits')
})

test('dequantizing the golden blocks gives values within a step of the input', () => {
  const golden = readGgmlBlocks()
  for (const dtype of ['q4_k', 'q5_k', 'q6_k'] as DType[]) {
    const x = blockInput(512, 101, 1) // uniform in [-0.5, 0.5)
    const y = decode(dtype, Buffer.from(golden[dtype]![1]!, 'hex'), 512)
    const step = dtype === 'q4_k' ? 1 / 15 : dtype === 'q5_k' ? 1 / 31 : 1 / 63
    for (let i = 0; i < 512; i++) assert.ok(Math.abs(x[i]! - y[i]!) < step, `${dtype} value ${i}: ${x[i]} → ${y[i]}`)
  }
})

test('all-zero super-blocks quantize to zeros', () => {
  for (const dtype of FORMATS) {
    const n = DTYPES[dtype].blockSize
    assert.ok(decode(dtype, encode(dtype, new Float32Array(n)), n).every(v => v === 0), dtype)
  }
})

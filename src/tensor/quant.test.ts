import { test } from 'node:test'
import assert from 'node:assert/strict'
import * as q8_0 from './q8_0.ts'
import * as q4_0 from './q4_0.ts'
import { byteSize, DTYPES } from './dtype.ts'

// 32 values: (j - 11.5) * 0.37
const ramp = Float32Array.from({ length: 32 }, (_, j) => (j - 11.5) * 0.37)

function randomValues (n: number, seed: number): Float32Array {
  let s = seed >>> 0
  const out = new Float32Array(n)
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0
    out[i] = (s / 2 ** 32 - 0.5) * 4
  }
  return out
}

function nmse (a: Float32Array, b: Float32Array): number {
  let num = 0; let den = 0
  for (let i = 0; i < a.length; i++) { num += (a[i]! - b[i]!) ** 2; den += a[i]! ** 2 }
  return num / den
}

test('block sizes match ggml (block_q8_0 = 34 bytes, block_q4_0 = 18 bytes)', () => {
  assert.equal(q8_0.BYTES, 34); assert.equal(DTYPES.q8_0.blockBytes, 34)
  assert.equal(q4_0.BYTES, 18); assert.equal(DTYPES.q4_0.blockBytes, 18)
  assert.equal(byteSize('q8_0', [3, 64]), 3 * 2 * 34)
  assert.throws(() => byteSize('q4_0', [33]), { code: 'SHAPE_MISMATCH' })
})

test('q8_0: bytes of a known block (independently computed in numpy float32)', () => {
  const bytes = q8_0.quantizeRef(ramp)
  assert.equal(bytes.length, 34)
  assert.equal(bytes[0]! | (bytes[1]! << 8), 0x2b46)
  const qs = Array.from(new Int8Array(bytes.buffer, 2, 32))
  assert.deepEqual(qs, [-75, -68, -62, -55, -49, -42, -36, -29, -23, -16, -10, -3, 3, 10, 16, 23, 29, 36, 42, 49,
    55, 62, 68, 75, 81, 88, 94, 101, 107, 114, 120, 127])
})

test('q4_0: bytes of a known block (independently computed in numpy float32)', () => {
  const bytes = q4_0.quantizeRef(ramp)
  assert.equal(bytes.length, 18)
  assert.equal(bytes[0]! | (bytes[1]! << 8), 0xbb37)
  assert.deepEqual(Array.from(bytes.subarray(2)), [109, 108, 92, 91, 91, 75, 74, 58, 57, 41, 41, 40, 24, 23, 7, 7])
})

test('q8_0 and q4_0 round trips stay within their quantization error', () => {
  const x = randomValues(32 * 64, 7)
  const y8 = q8_0.dequantizeRef(q8_0.quantizeRef(x), x.length)
  const y4 = q4_0.dequantizeRef(q4_0.quantizeRef(x), x.length)
  assert.ok(nmse(x, y8) < 1e-4, `q8_0 nmse ${nmse(x, y8)}`)
  assert.ok(nmse(x, y4) < 2e-2, `q4_0 nmse ${nmse(x, y4)}`)
  // every q8_0 value is within half a step of its input
  for (let b = 0; b < 64; b++) {
    let amax = 0
    for (let j = 0; j < 32; j++) amax = Math.max(amax, Math.abs(x[b * 32 + j]!))
    for (let j = 0; j < 32; j++) {
      assert.ok(Math.abs(x[b * 32 + j]! - y8[b * 32 + j]!) <= (amax / 127) * 0.5 + 1e-3)
    }
  }
  // quantizing a dequantized block is a fixed point
  assert.deepEqual(q8_0.quantizeRef(y8), q8_0.quantizeRef(x))
})

test('an all-zero block quantizes to d = 0 and dequantizes to zeros', () => {
  const zeros = new Float32Array(32)
  // (q4_0 stores d = -0 here, as ggml does, so compare with === rather than Object.is)
  assert.ok(q8_0.dequantizeRef(q8_0.quantizeRef(zeros), 32).every(v => v === 0))
  assert.ok(q4_0.dequantizeRef(q4_0.quantizeRef(zeros), 32).every(v => v === 0))
})

import { test } from 'node:test'
import assert from 'node:assert/strict'
import { FrameError } from '../util/errors.ts'
import { crc32 } from './crc32.ts'
import { roundTripF16 } from './f16.ts'
import { FRAME_MAGIC, decodeFrame, encodeFrame, frameHeaderLength } from './frame.ts'

function values (n: number): Float32Array {
  return Float32Array.from({ length: n }, (_, i) => Math.sin(i * 0.37) * (i + 1))
}

function code (fn: () => unknown): string {
  try {
    fn()
  } catch (err) {
    assert.ok(err instanceof FrameError, `expected a FrameError, got ${String(err)}`)
    return err.code
  }
  assert.fail('expected a FrameError')
}

test('f32 frames round-trip bit for bit, with shape and dtype', () => {
  const data = values(3 * 64)
  const bytes = encodeFrame(data, [3, 64])
  assert.equal(bytes.byteLength, frameHeaderLength(2) + data.byteLength)
  const frame = decodeFrame(bytes)
  assert.equal(frame.dtype, 'f32')
  assert.deepEqual(frame.shape, [3, 64])
  assert.deepEqual(frame.data, data)
})

test('f16 frames halve the bytes and round like roundTripF16', () => {
  const data = values(2 * 10)
  const bytes = encodeFrame(data, [2, 10], { dtype: 'f16' })
  assert.equal(bytes.byteLength, frameHeaderLength(2) + data.length * 2)
  const frame = decodeFrame(bytes)
  assert.equal(frame.dtype, 'f16')
  assert.deepEqual(frame.data, roundTripF16(data))
})

test('a frame decodes from an unaligned offset inside a larger buffer', () => {
  const data = values(7)
  const bytes = encodeFrame(data, [7])
  const big = new Uint8Array(bytes.byteLength + 3)
  big.set(bytes, 3)
  assert.deepEqual(decodeFrame(big.subarray(3)).data, data)
})

test('every flipped data byte is caught by the checksum', () => {
  const bytes = encodeFrame(values(16), [16])
  const head = frameHeaderLength(1)
  for (let i = head; i < bytes.byteLength; i++) {
    const bad = bytes.slice()
    bad[i]! ^= 0x10
    assert.equal(code(() => decodeFrame(bad)), 'FRAME_CHECKSUM', `byte ${i}`)
  }
})

test('malformed headers are BAD_FRAME', () => {
  const good = encodeFrame(values(4), [2, 2])
  const patch = (offset: number, value: number): Uint8Array => { const b = good.slice(); b[offset] = value; return b }
  assert.equal(code(() => decodeFrame(patch(0, 0))), 'BAD_FRAME') // magic
  assert.equal(code(() => decodeFrame(patch(4, 9))), 'BAD_FRAME') // version
  assert.equal(code(() => decodeFrame(patch(5, 7))), 'BAD_FRAME') // dtype
  assert.equal(code(() => decodeFrame(patch(6, 0))), 'BAD_FRAME') // ndim 0
  assert.equal(code(() => decodeFrame(patch(6, 9))), 'BAD_FRAME') // ndim too large
  assert.equal(code(() => decodeFrame(patch(7, 1))), 'BAD_FRAME') // flags
  assert.equal(code(() => decodeFrame(patch(8, 3))), 'BAD_FRAME') // shape disagrees with byte length
  assert.equal(code(() => decodeFrame(good.subarray(0, 10))), 'BAD_FRAME') // shorter than any header
  assert.equal(code(() => decodeFrame(good.subarray(0, good.byteLength - 1))), 'BAD_FRAME') // truncated data
  const extra = new Uint8Array(good.byteLength + 4)
  extra.set(good)
  assert.equal(code(() => decodeFrame(extra)), 'BAD_FRAME') // trailing bytes
  assert.equal(code(() => decodeFrame(new Uint8Array(64))), 'BAD_FRAME') // zeros
})

test('oversized frames are refused before their data is read', () => {
  // a 24-byte header that claims 2^31 bytes of data
  const head = new Uint8Array(frameHeaderLength(2))
  const view = new DataView(head.buffer)
  view.setUint32(0, FRAME_MAGIC, true)
  view.setUint8(4, 1)
  view.setUint8(6, 2)
  view.setUint32(8, 2 ** 20, true)
  view.setUint32(12, 2 ** 9, true)
  view.setUint32(16, 2 ** 31, true)
  assert.equal(code(() => decodeFrame(head)), 'FRAME_TOO_LARGE')
  const bytes = encodeFrame(values(1024), [1024])
  assert.equal(code(() => decodeFrame(bytes, { maxBytes: 4095 })), 'FRAME_TOO_LARGE')
  assert.equal(decodeFrame(bytes, { maxBytes: 4096 }).data.length, 1024)
  assert.equal(code(() => encodeFrame(values(1024), [1024], { maxBytes: 100 })), 'FRAME_TOO_LARGE')
})

test('encoding checks the shape against the data', () => {
  assert.equal(code(() => encodeFrame(values(6), [2, 2])), 'BAD_FRAME')
  assert.equal(code(() => encodeFrame(values(6), [])), 'BAD_FRAME')
  assert.equal(code(() => encodeFrame(values(6), [1, 1, 1, 1, 6])), 'BAD_FRAME')
  assert.equal(code(() => encodeFrame(values(6), [2.5, 2])), 'BAD_FRAME')
})

test('i8 frames: a scale per row, every value within half a step, a quarter of f32\'s bytes', () => {
  const data = values(3 * 64)
  data.fill(0, 64, 128) // a zero row: scale 0, zeros back
  const bytes = encodeFrame(data, [3, 64], { dtype: 'i8' })
  assert.equal(bytes.byteLength, frameHeaderLength(2) + 3 * 4 + 3 * 64)
  const frame = decodeFrame(bytes)
  assert.equal(frame.dtype, 'i8')
  assert.deepEqual(frame.shape, [3, 64])
  for (let r = 0; r < 3; r++) {
    const row = data.subarray(r * 64, (r + 1) * 64)
    const step = Math.max(...row.map(Math.abs)) / 127
    row.forEach((v, i) => { assert.ok(Math.abs(frame.data[r * 64 + i]! - v) <= step / 2 + 1e-6 * step, `row ${r} value ${i}`) })
    // the largest magnitude comes back (to f32 rounding of its scale)
    const big = row.reduce((m, v, i) => Math.abs(v) > Math.abs(row[m]!) ? i : m, 0)
    if (step > 0) assert.ok(Math.abs(frame.data[r * 64 + big]! - row[big]!) <= Math.abs(row[big]!) * 1e-6)
  }
  assert.deepEqual([...frame.data.subarray(64, 128)], new Array(64).fill(0))
  // a 1-D frame is one row
  assert.equal(decodeFrame(encodeFrame(Float32Array.of(1, -2, 0.5), [3], { dtype: 'i8' })).data[1], -2)
})

test('i8 frames refuse what they cannot carry and what no encoder writes', () => {
  assert.equal(code(() => encodeFrame(Float32Array.of(1, NaN), [1, 2], { dtype: 'i8' })), 'BAD_FRAME')
  assert.equal(code(() => encodeFrame(Float32Array.of(1, Infinity), [1, 2], { dtype: 'i8' })), 'BAD_FRAME')
  const bytes = encodeFrame(values(2 * 8), [2, 8], { dtype: 'i8' })
  const head = frameHeaderLength(2)
  // a negative scale (with a checksum that matches, so only the scale check can catch it)
  const bad = bytes.slice()
  new DataView(bad.buffer).setFloat32(head + 4, -1, true)
  const body = bad.subarray(head)
  new DataView(bad.buffer).setUint32(12 + 4 * 2, crc32(body), true)
  assert.equal(code(() => decodeFrame(bad)), 'BAD_FRAME')
  // a data length that does not fit the shape's rows
  assert.equal(code(() => decodeFrame(bytes.subarray(0, bytes.byteLength - 1))), 'BAD_FRAME')
})

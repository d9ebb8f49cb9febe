import { test } from 'node:test'
import assert from 'node:assert/strict'
import { f16ToF32, f32ToF16, bf16ToF32, f32ToBf16 } from './f16.ts'

test('f16: every finite half survives f16 → f32 → f16', () => {
  for (let h = 0; h < 0x10000; h++) {
    const exp = (h >> 10) & 0x1f
    if (exp === 31 && (h & 0x3ff) !== 0) continue // NaN payloads are not preserved bit for bit
    assert.equal(f32ToF16(f16ToF32(h)), h, `half 0x${h.toString(16)}`)
  }
})

test('f16: known values, rounding to nearest even, overflow and subnormals', () => {
  assert.equal(f32ToF16(1), 0x3c00)
  assert.equal(f32ToF16(-2), 0xc000)
  assert.equal(f32ToF16(65504), 0x7bff)
  assert.equal(f32ToF16(65520), 0x7c00) // rounds up past the largest half: infinity
  assert.equal(f32ToF16(1e-8), 0) // below half the smallest subnormal
  assert.equal(f32ToF16(2 ** -24), 0x0001) // smallest subnormal
  assert.equal(f32ToF16(1 + 2 ** -11), 0x3c00) // tie → even (down)
  assert.equal(f32ToF16(1 + 3 * 2 ** -11), 0x3c02) // tie → even (up)
  assert.ok(Number.isNaN(f16ToF32(f32ToF16(Number.NaN))))
  assert.equal(f16ToF32(0x7c00), Infinity)
})

test('bf16: round trip and rounding', () => {
  assert.equal(f32ToBf16(1), 0x3f80)
  assert.equal(bf16ToF32(0x3f80), 1)
  assert.equal(bf16ToF32(f32ToBf16(3.140625)), 3.140625)
  assert.equal(f32ToBf16(1 + 2 ** -8), 0x3f80) // tie → even
  assert.ok(Number.isNaN(bf16ToF32(f32ToBf16(Number.NaN))))
})

import assert from 'node:assert/strict'
import { it } from 'node:test'
import { GridError } from '../../util/errors.ts'
import { Heap } from './heap.ts'

const PAGE = 65536
const memory = (): WebAssembly.Memory => new WebAssembly.Memory({ initial: 1, maximum: 64, shared: true })

it('hands out aligned, disjoint blocks above page 0 and grows the memory', () => {
  const m = memory()
  const heap = new Heap(m)
  const a = heap.alloc(10)
  const b = heap.alloc(100_000)
  const c = heap.alloc(64)
  assert.ok(a >= PAGE && a % 64 === 0 && b % 64 === 0 && c % 64 === 0)
  assert.ok(a + 64 <= b && b + 100_000 <= c)
  assert.ok(m.buffer.byteLength >= c + 64)
  assert.equal(heap.usedBytes, 64 + 100_032 + 64)
})

it('reuses released space first fit and merges neighbours', () => {
  const heap = new Heap(memory())
  const a = heap.alloc(64)
  const b = heap.alloc(64)
  const c = heap.alloc(64)
  heap.alloc(64) // keeps the others off the top
  heap.release(a, 64)
  heap.release(b, 64)
  assert.equal(heap.alloc(128), a, 'a and b merged into one 128-byte span')
  heap.release(c, 64)
  assert.equal(heap.alloc(64), c)
})

it('gives the top back to the bump region, and fails clearly past the limit', () => {
  const heap = new Heap(memory(), 4 * PAGE)
  const a = heap.alloc(64)
  const b = heap.alloc(1000)
  heap.release(b, 1000)
  assert.equal(heap.alloc(2000), b)
  assert.throws(() => heap.alloc(4 * PAGE), (e: unknown) => e instanceof GridError && e.code === 'OUT_OF_MEMORY')
  assert.equal(heap.usedBytes, 64 + 2048, 'a failed allocation takes nothing')
  heap.release(a, 64)
})

it('allocZeroed clears reused space and leaves fresh pages untouched', () => {
  const m = memory()
  const heap = new Heap(m)
  const a = heap.alloc(256)
  new Uint8Array(m.buffer).fill(7, a, a + 256)
  heap.alloc(64) // keeps a off the top
  heap.release(a, 256)
  const b = heap.allocZeroed(512) // does not fit a's span: fresh
  const c = heap.allocZeroed(200) // reuses a's span
  assert.equal(c, a)
  const u8 = new Uint8Array(m.buffer)
  assert.ok(u8.subarray(c, c + 200).every(v => v === 0))
  assert.equal(u8[c + 200], 7, 'only the block itself is cleared')
  assert.ok(u8.subarray(b, b + 512).every(v => v === 0))
})

import { test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { encode } from '../../tensor/index.ts'
import { readGguf } from './reader.ts'
import { meta, writeGguf } from './writer.ts'

const dir = mkdtempSync(join(tmpdir(), 'gridllm-gguf-'))
test.after(() => rmSync(dir, { recursive: true, force: true }))

test('metadata of every kind and tensor infos survive a write and a read', () => {
  const path = join(dir, 'kinds.gguf')
  const a = Float32Array.from({ length: 64 }, (_, i) => i / 7)
  writeGguf(path, [
    ['u32', meta.u32(4000000000)], ['i32', meta.i32(-5)], ['f32', meta.f32(0.25)], ['yes', meta.bool(true)],
    ['text', meta.str('héllo 🎉')], ['words', meta.strings(['a', '', 'ü'])], ['floats', meta.f32s([1.5, -2])], ['ints', meta.i32s([7, -8])]
  ], [
    { name: 'a', dtype: 'f32', shape: [2, 32], data: encode('f32', a) },
    { name: 'b', dtype: 'q8_0', shape: [1, 64], data: () => encode('q8_0', a) }
  ], 64)
  const f = readGguf(path)
  assert.equal(f.version, 3)
  assert.equal(f.alignment, 64)
  const m = f.metadata
  assert.equal(m.get('u32'), 4000000000)
  assert.equal(m.get('i32'), -5)
  assert.equal(m.get('f32'), 0.25)
  assert.equal(m.get('yes'), true)
  assert.equal(m.get('text'), 'héllo 🎉')
  assert.deepEqual(m.get('words'), ['a', '', 'ü'])
  assert.deepEqual(Array.from(m.get('floats') as Float32Array), [1.5, -2])
  assert.deepEqual(Array.from(m.get('ints') as Int32Array), [7, -8])
  assert.deepEqual(f.tensors.map(t => [t.name, t.ne, t.ggmlType]), [['a', [32, 2], 0], ['b', [64, 1], 8]])
  for (const t of f.tensors) assert.equal(t.offset % 64, 0)
  const bytes = readFileSync(path)
  assert.deepEqual(new Float32Array(Uint8Array.from(bytes.subarray(f.tensors[0]!.offset, f.tensors[0]!.offset + 256)).buffer), a)
  assert.equal(bytes.length, f.tensors[1]!.offset + 128) // 2 blocks of q8_0 (68 bytes) padded to the 64-byte alignment
})

test('GGUF version 2 files read like version 3', () => {
  const path = join(dir, 'v2.gguf')
  writeGguf(path, [['general.architecture', meta.str('llama')]], [])
  const bytes = readFileSync(path)
  bytes.writeUInt32LE(2, 4)
  writeFileSync(path, bytes)
  assert.equal(readGguf(path).version, 2)
})

test('implausible counts and misaligned tensors are reported, not allocated', () => {
  const path = join(dir, 'huge.gguf')
  writeGguf(path, [['k', meta.str('v')]], [])
  const bytes = readFileSync(path)
  bytes.writeBigUInt64LE(1n << 40n, 16) // metadata count
  writeFileSync(path, bytes)
  assert.throws(() => readGguf(path), { code: 'BAD_MODEL_FILE', message: /implausible metadata count/ })
})

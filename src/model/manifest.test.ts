import { test } from 'node:test'
import assert from 'node:assert/strict'
import { fileURLToPath } from 'node:url'
import { RefBackend } from '../kernels/index.ts'
import { toHex } from '../util/bytes.ts'
import { sha256 } from '../util/sha256.ts'
import { Manifest, TOKENIZER_ITEM } from './manifest.ts'
import { openModel } from './open.ts'
import { decodeTokenizer, encodeTokenizer } from './tokenizer/blob.ts'
import { createTokenizer } from './tokenizer/index.ts'
import { loadWeights } from './weights.ts'

const MODEL = fileURLToPath(new URL('../../models/stories260K/stories260K.gguf', import.meta.url))

async function manifestOf (pieceBytes?: number): Promise<Manifest> {
  const source = await openModel(MODEL)
  return (await loadWeights(source, new RefBackend(), { start: 0, end: 0, hash: true, pieceBytes })).manifest!
}

test('the model id is the SHA-256 of the manifest, the same on every load', async () => {
  const [a, b] = [await manifestOf(), await manifestOf()]
  assert.match(a.id, /^[0-9a-f]{64}$/)
  assert.equal(a.id, toHex(sha256(a.bytes)))
  assert.equal(b.id, a.id)
  assert.deepEqual(b.bytes, a.bytes)
  const source = await openModel(MODEL)
  assert.equal(a.manifest.tensors.length, source.tensors.size)
  for (const t of a.manifest.tensors) {
    const entry = source.tensors.get(t.name)!
    assert.equal(t.bytes, entry.byteLength)
    assert.deepEqual(t.shape, entry.shape)
    assert.equal(t.pieces, undefined) // every tensor of stories260K fits one 1 MiB piece
  }
  assert.notEqual((await manifestOf(4096)).id, a.id) // the piece size is part of what peers agree on
})

test('pieces: each piece of a large item verifies, and only its own bytes do', async () => {
  const m = await manifestOf(4096)
  const source = await openModel(MODEL)
  const entry = source.tensors.get('token_embd.weight')!
  const item = m.item('token_embd.weight')!
  assert.equal(m.pieceCount(item), entry.byteLength / 4096)
  assert.equal(item.pieces!.length, m.pieceCount(item))
  const { TensorReader } = await import('./source.ts')
  const reader = new TensorReader()
  const whole = await reader.read(entry)
  await reader.close()
  assert.equal(toHex(sha256(whole)), item.sha256)
  for (let i = 0; i < m.pieceCount(item); i++) {
    const [offset, length] = m.pieceRange(item, i)
    const piece = whole.slice(offset, offset + length)
    assert.ok(m.verifyPiece(item, i, piece))
    piece[7] ^= 1
    assert.ok(!m.verifyPiece(item, i, piece), 'a flipped bit is caught')
  }
  assert.ok(!m.verifyPiece(item, 0, whole.slice(4096, 8192)), 'another piece is not this one')
})

test('a manifest from a peer is checked against the id and for sense', async () => {
  const m = await manifestOf()
  assert.equal(Manifest.fromBytes(m.bytes, m.id).id, m.id)
  assert.throws(() => Manifest.fromBytes(m.bytes, 'f'.repeat(64)), { code: 'BAD_MODEL_FILE', message: /does not hash/ })
  const tampered = m.bytes.slice()
  tampered[tampered.length - 5] ^= 1
  assert.throws(() => Manifest.fromBytes(tampered, m.id), { code: 'BAD_MODEL_FILE' })
  // a hostile peer can announce any id: the contents are checked too
  const hostile = (change: (mm: any) => void): void => {
    const mm = JSON.parse(new TextDecoder().decode(m.bytes))
    change(mm)
    const h = Manifest.fromManifest(mm)
    assert.throws(() => Manifest.fromBytes(h.bytes, h.id), { code: 'BAD_MODEL_FILE', message: /bad manifest|missing|shape/ })
  }
  hostile(mm => { mm.tensors[0].bytes += 1 })
  hostile(mm => { mm.tensors[0].sha256 = 'nope' })
  hostile(mm => { mm.tensors.pop() })
  hostile(mm => { mm.tensors.reverse() })
  hostile(mm => { mm.pieceBytes = 3 })
  hostile(mm => { mm.config.dim = 65 })
  hostile(mm => { mm.format = 'other' })
})

test('the tokenizer travels as a blob that decodes to the same tokenizer', async () => {
  const source = await openModel(MODEL)
  const m = await manifestOf()
  const blob = encodeTokenizer(source.tokenizer!, source.chatTemplate)
  assert.ok(m.verifyPiece(m.item(TOKENIZER_ITEM)!, 0, blob))
  const back = decodeTokenizer(blob)
  const [a, b] = [createTokenizer(source.tokenizer!), createTokenizer(back.tokenizer)]
  const text = 'Once upon a time, Lily met a cat. 42 ünïcödé'
  assert.deepEqual(b.encode(text), a.encode(text))
  assert.equal(back.chatTemplate, source.chatTemplate)
  assert.throws(() => decodeTokenizer(new TextEncoder().encode('{"tokenizer":{"kind":"spm","tokens":[1]}}')), { code: 'BAD_MODEL_FILE' })
})

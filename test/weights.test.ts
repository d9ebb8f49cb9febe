/**
 * Quantized and half-precision weights compute what their dequantized f32 values compute, and a
 * span executor reads and keeps only its own layers.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { RefBackend } from '../src/kernels/index.ts'
import { LocalSpanExecutor, Model, loadWeights, openModel } from '../src/model/index.ts'
import { writeGguf } from '../src/model/gguf/writer.ts'
import { syntheticGgufSpec, type ModelShape } from '../src/model/synthetic.ts'
import { type DType, decode, encode, numel } from '../src/tensor/index.ts'

const dir = mkdtempSync(join(tmpdir(), 'gridllm-w-'))
test.after(() => rmSync(dir, { recursive: true, force: true }))

const SHAPE: ModelShape = { dim: 64, hiddenDim: 160, nLayers: 3, nHeads: 4, nKvHeads: 2, vocabSize: 320, contextLength: 64, tied: false }

/** On the ref backend, which computes with the dequantized weights exactly (the wasm backend also
 * quantizes activations, which the kernel conformance suite bounds). */
async function logits (path: string, ids: number[]): Promise<Float32Array> {
  const model = await Model.load(path, { backend: 'ref' })
  try {
    const s = await model.executors[0]!.open('s', { maxLength: ids.length })
    return await model.ends.logits(await s.forward(await model.ends.embed(ids), ids.map((_, i) => i)))
  } finally {
    await model.close()
  }
}

for (const dtype of ['q8_0', 'q4_0', 'f16', 'bf16'] as DType[]) {
  test(`${dtype} weights give the logits of f32 weights holding their dequantized values`, async () => {
    const spec = syntheticGgufSpec(SHAPE, { dtype, seed: 3 })
    const quant = join(dir, `${dtype}.gguf`)
    writeGguf(quant, spec.metadata, spec.tensors)
    const widened = join(dir, `${dtype}-as-f32.gguf`)
    writeGguf(widened, spec.metadata, spec.tensors.map(t => {
      const bytes = typeof t.data === 'function' ? t.data() : t.data
      return { ...t, dtype: 'f32', data: encode('f32', decode(t.dtype, bytes, numel(t.shape))) }
    }))
    const source = await openModel(quant)
    assert.equal(source.tensors.get('blk.0.attn_q.weight')!.dtype, dtype)
    assert.ok(statSync(quant).size < statSync(widened).size)
    const ids = [1, 17, 300, 45, 2, 99, 256, 3]
    const a = await logits(quant, ids)
    const b = await logits(widened, ids)
    let diff = 0
    for (let i = 0; i < a.length; i++) diff = Math.max(diff, Math.abs(a[i]! - b[i]!))
    assert.ok(diff < 1e-4, `max abs difference ${diff}`)
  })
}

test('quantized weights stay quantized in the backend', async () => {
  const path = join(dir, 'q8_0.gguf')
  const source = await openModel(path)
  const backend = new RefBackend()
  const w = await loadWeights(source, backend, { start: 0, end: 3, ends: true })
  assert.equal(w.layers[0]!.wq.dtype, 'q8_0')
  assert.equal(w.layers[0]!.attnNorm.dtype, 'f32')
  const fileBytes = [...source.tensors.values()].reduce((s, t) => s + t.byteLength, 0)
  assert.equal(backend.allocatedBytes(), fileBytes)
})

test('a span executor reads and keeps only its layers', async () => {
  const path = join(dir, 'q8_0.gguf')
  const source = await openModel(path)
  const layer1 = [...source.tensors.values()].filter(t => t.name.startsWith('blk.1.')).reduce((s, t) => s + t.byteLength, 0)
  const backend = new RefBackend()
  let read = 0
  const e = await LocalSpanExecutor.load(source, backend, { start: 1, end: 2, modelId: 'given', onProgress: (done) => { read = done } })
  assert.equal(read, layer1)
  const scratch = backend.allocatedBytes() - layer1 // activation buffers of one chunk
  assert.ok(scratch > 0 && scratch < 200_000, `scratch ${scratch}`)
  await e.close()
  assert.equal(backend.allocatedBytes(), 0)

  // asking for the model id streams every tensor through the hash but still keeps only the span
  let total = 0
  const hashed = await LocalSpanExecutor.load(source, new RefBackend(), { start: 1, end: 2, onProgress: (done, all) => { total = all } })
  assert.equal(total, [...source.tensors.values()].reduce((s, t) => s + t.byteLength, 0))
  const whole = await Model.load(path, { backend: 'ref' })
  assert.equal(hashed.modelId, whole.modelId)
  await hashed.close()
  await whole.close()
})

/**
 * Golden test 5: a Hugging Face safetensors folder and the same weights converted to GGUF (with
 * llama.cpp's Q/K permutation for llama) give the same logits: the two RoPE layouts agree.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { RefBackend } from '../src/kernels/index.ts'
import { LocalSpanExecutor, Model, ModelEnds, loadWeights, openModel } from '../src/model/index.ts'
import { writeTinyPair } from './fixtures/hf-model.ts'

const dir = mkdtempSync(join(tmpdir(), 'gridllm-st-'))
test.after(() => rmSync(dir, { recursive: true, force: true }))

async function allLogits (path: string, ids: number[]): Promise<Float32Array> {
  const model = await Model.load(path)
  try {
    const [session] = await Promise.all(model.executors.map(async e => await e.open('s', { maxLength: ids.length })))
    const hidden = await session!.forward(model.ends.embed(ids), ids.map((_, i) => i))
    return model.ends.logits(hidden)
  } finally {
    await model.close()
  }
}

function maxAbsDiff (a: Float32Array, b: Float32Array): number {
  assert.equal(a.length, b.length)
  let m = 0
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!))
  return m
}

const cases = [
  { arch: 'llama', dtype: 'f32', shards: 1 },
  { arch: 'llama', dtype: 'bf16', shards: 3 },
  { arch: 'qwen2', dtype: 'f16', shards: 1 }
] as const

for (const c of cases) {
  test(`safetensors ${c.arch} ${c.dtype} (${c.shards} shard${c.shards > 1 ? 's' : ''}) and its GGUF give the same logits`, async () => {
    const pair = writeTinyPair(join(dir, `${c.arch}-${c.dtype}`), c.arch, { dtype: c.dtype, shards: c.shards })
    const hf = await Model.load(pair.hfDir)
    const gg = await Model.load(pair.gguf)
    try {
      assert.equal(hf.config.ropeStyle, 'neox')
      assert.equal(gg.config.ropeStyle, c.arch === 'llama' ? 'interleaved' : 'neox')
      assert.equal(hf.config.qkvBias, c.arch === 'qwen2')
      const text = 'hello world, the tokenizers agree'
      const ids = hf.tokenizer.encode(text)
      assert.deepEqual(gg.tokenizer.encode(text), ids)
      assert.equal(hf.chatTemplate, '{% for m in messages %}{{ m.content }}{% endfor %}')
    } finally {
      await hf.close()
      await gg.close()
    }
    const ids = Array.from({ length: 24 }, (_, i) => (i * 37 + 5) % 270)
    const a = await allLogits(pair.hfDir, ids)
    const b = await allLogits(pair.gguf, ids)
    const diff = maxAbsDiff(a, b)
    assert.ok(diff < 1e-4, `max abs logit difference ${diff}`)
    // a wrong RoPE pairing would not agree: logits are far from constant
    assert.ok(maxAbsDiff(a, new Float32Array(a.length)) > 0.1)
  })
}

test('without the Q/K permutation the GGUF would disagree (the RoPE layouts really differ)', async () => {
  const pair = writeTinyPair(join(dir, 'unpermuted'), 'llama')
  // load the HF weights but pretend they use adjacent pairs, as an unpermuted conversion would
  const source = await openModel(pair.hfDir)
  const wrong = { ...source, config: { ...source.config, ropeStyle: 'interleaved' as const } }
  const backend = new RefBackend()
  const w = await loadWeights(wrong, backend, { ends: true })
  const ends = new ModelEnds(wrong.config, backend, w.ends!)
  const span = new LocalSpanExecutor(wrong.config, backend, w, { start: 0, end: 2, modelId: 'x' })
  const ids = Array.from({ length: 24 }, (_, i) => (i * 37 + 5) % 270)
  const s = await span.open('s', { maxLength: 24 })
  const bad = ends.logits(await s.forward(ends.embed(ids), ids.map((_, i) => i)))
  const good = await allLogits(pair.gguf, ids)
  assert.ok(maxAbsDiff(bad, good) > 1e-2)
})

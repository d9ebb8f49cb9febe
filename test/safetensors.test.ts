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
import { TINY_TEMPLATE, type TinyOptions, writeTinyPair } from './fixtures/hf-model.ts'
import { llama3RopeFactors } from '../src/model/config.ts'

const dir = mkdtempSync(join(tmpdir(), 'gridllm-st-'))
test.after(() => rmSync(dir, { recursive: true, force: true }))

async function allLogits (path: string, ids: number[]): Promise<Float32Array> {
  const model = await Model.load(path)
  try {
    const [session] = await Promise.all(model.executors.map(async e => await e.open('s', { maxLength: ids.length })))
    const hidden = await session!.forward(await model.ends.embed(ids), ids.map((_, i) => i))
    return await model.ends.logits(hidden)
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

/**
 * Llama 3.x RoPE scaling for the tiny model (head 16, θ 10000): the per-pair factors of
 * transformers' _compute_llama3_parameters (factor 8, low 1, high 4, original context 64),
 * computed independently in Python; the GGUF side gets them as rope_freqs.weight.
 */
const LLAMA3_TINY: NonNullable<TinyOptions['ropeScaling']> = {
  config: { rope_type: 'llama3', factor: 8, low_freq_factor: 1, high_freq_factor: 4, original_max_position_embeddings: 64 },
  ropeFreqs: [1, 1.293976, 7.667385, 8, 8, 8, 8, 8]
}

const cases: Array<{ arch: 'llama' | 'qwen2' | 'qwen3', dtype: 'f32' | 'f16' | 'bf16', shards: number, what?: string, options?: TinyOptions }> = [
  { arch: 'llama', dtype: 'f32', shards: 1 },
  { arch: 'llama', dtype: 'bf16', shards: 3 },
  { arch: 'qwen2', dtype: 'f16', shards: 1 },
  { arch: 'qwen3', dtype: 'f32', shards: 1 },
  { arch: 'llama', dtype: 'f32', shards: 1, what: 'Llama 3 RoPE scaling, chat_template.jinja', options: { ropeScaling: LLAMA3_TINY, jinjaFile: true } }
]

test('Llama 3 RoPE factors match transformers\' for Llama 3.2 (head 64, θ 500000, factor 32)', () => {
  const f = llama3RopeFactors(64, 500000, { factor: 32, lowFreqFactor: 1, highFreqFactor: 4, originalContext: 8192 })
  assert.equal(f.length, 32)
  assert.deepEqual(f.filter((_, i) => i % 4 === 0).map(v => Math.round(v * 1e6) / 1e6), [1, 1, 1, 1, 3.292262, 32, 32, 32])
  const tiny = llama3RopeFactors(16, 10000, { factor: 8, lowFreqFactor: 1, highFreqFactor: 4, originalContext: 64 })
  tiny.forEach((v, i) => assert.ok(Math.abs(v - LLAMA3_TINY.ropeFreqs[i]!) < 1e-5, `pair ${i}: ${v}`))
})

for (const c of cases) {
  test(`safetensors ${c.arch} ${c.dtype} (${c.shards} shard${c.shards > 1 ? 's' : ''}${c.what !== undefined ? `, ${c.what}` : ''}) and its GGUF give the same logits`, async () => {
    const pair = writeTinyPair(join(dir, `${c.arch}-${c.dtype}-${c.what ?? ''}`.replace(/[^\w-]/g, '_')), c.arch, { dtype: c.dtype, shards: c.shards, ...c.options })
    const hf = await Model.load(pair.hfDir)
    const gg = await Model.load(pair.gguf)
    try {
      assert.equal(hf.config.ropeStyle, 'neox')
      assert.equal(gg.config.ropeStyle, c.arch === 'llama' ? 'interleaved' : 'neox')
      assert.equal(hf.config.qkvBias, c.arch === 'qwen2')
      assert.equal(hf.config.qkNorm, c.arch === 'qwen3' ? true : undefined)
      assert.equal(gg.config.qkNorm, hf.config.qkNorm)
      assert.equal(hf.config.ropeFreqFactors !== undefined, c.options?.ropeScaling !== undefined)
      assert.equal(gg.config.ropeFreqFactors?.length, hf.config.ropeFreqFactors?.length)
      const text = 'hello world, the tokenizers agree'
      const ids = hf.tokenizer.encode(text)
      assert.deepEqual(gg.tokenizer.encode(text), ids)
      assert.equal(hf.chatTemplate, TINY_TEMPLATE)
    } finally {
      await hf.close()
      await gg.close()
    }
    const ids = Array.from({ length: 24 }, (_, i) => (i * 37 + 5) % 270)
    const a = await allLogits(pair.hfDir, ids)
    const b = await allLogits(pair.gguf, ids)
    const diff = maxAbsDiff(a, b)
    assert.ok(diff < (c.options?.ropeScaling !== undefined ? 3e-4 : 1e-4), `max abs logit difference ${diff}`)
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
  const bad = await ends.logits(await s.forward(await ends.embed(ids), ids.map((_, i) => i)))
  const good = await allLogits(pair.gguf, ids)
  assert.ok(maxAbsDiff(bad, good) > 1e-2)
})

test('RoPE frequency factors and qwen3\'s per-head norms are applied (dropping them changes the logits)', async () => {
  const ids = Array.from({ length: 24 }, (_, i) => (i * 37 + 5) % 270)
  for (const [arch, options, strip] of [
    ['llama', { ropeScaling: LLAMA3_TINY }, (c: Record<string, unknown>) => { delete c.ropeFreqFactors }],
    ['qwen3', {}, (c: Record<string, unknown>) => { delete c.qkNorm }]
  ] as const) {
    const pair = writeTinyPair(join(dir, `strip-${arch}`), arch, options)
    const source = await openModel(pair.gguf)
    const config = { ...source.config } as Record<string, unknown>
    strip(config)
    const stripped = { ...source, config: config as unknown as typeof source.config }
    const backend = new RefBackend()
    const w = await loadWeights(stripped, backend, { ends: true })
    const ends = new ModelEnds(stripped.config, backend, w.ends!)
    const span = new LocalSpanExecutor(stripped.config, backend, w, { start: 0, end: 2, modelId: 'x' })
    const s = await span.open('s', { maxLength: 24 })
    const without = await ends.logits(await s.forward(await ends.embed(ids), ids.map((_, i) => i)))
    assert.ok(maxAbsDiff(without, await allLogits(pair.gguf, ids)) > 1e-2, arch)
  }
})

test('other architectures and RoPE scalings are refused with errors naming them', async () => {
  const { readFileSync, writeFileSync } = await import('node:fs')
  const pair = writeTinyPair(join(dir, 'refuse'), 'llama')
  const configPath = join(pair.hfDir, 'config.json')
  const config = JSON.parse(readFileSync(configPath, 'utf8')) as Record<string, unknown>
  writeFileSync(configPath, JSON.stringify({ ...config, architectures: ['Gemma2ForCausalLM'] }))
  await assert.rejects(openModel(pair.hfDir), { code: 'UNSUPPORTED_ARCHITECTURE', message: /"Gemma2ForCausalLM".*LlamaForCausalLM.*Qwen3ForCausalLM/ })
  writeFileSync(configPath, JSON.stringify({ ...config, rope_scaling: { rope_type: 'yarn', factor: 4 } }))
  await assert.rejects(openModel(pair.hfDir), { code: 'UNSUPPORTED_ARCHITECTURE', message: /llama with yarn RoPE scaling/ })
  writeFileSync(configPath, JSON.stringify({ ...config, rope_scaling: { rope_type: 'linear', factor: 2 } }))
  assert.deepEqual((await openModel(pair.hfDir)).config.ropeFreqFactors, new Array(8).fill(2))
})

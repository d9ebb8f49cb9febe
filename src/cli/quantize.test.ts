import assert from 'node:assert/strict'
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, describe, it } from 'node:test'
import { RefBackend } from '../kernels/index.ts'
import { type ModelSource, ModelEnds, LocalSpanExecutor, loadWeights, openModel } from '../model/index.ts'
import { readGguf } from '../model/gguf/reader.ts'
import { randomF32, writeSyntheticGguf } from '../model/synthetic.ts'
import { RECIPES, tensorTypes } from '../model/gguf/recipe.ts'
import { writeTinyPair } from '../../test/fixtures/hf-model.ts'
import { encode } from '../tensor/index.ts'
import { STORIES_GGUF } from '../../test/fixtures/stories.ts'
import { quantizeModel } from './quantize.ts'

const STORIES = STORIES_GGUF
const dir = mkdtempSync(join(tmpdir(), 'gridllm-quantize-'))
after(() => rmSync(dir, { recursive: true, force: true }))

/** Last-position logits of `ids` through the whole model, on the ref backend. */
async function logits (source: ModelSource, ids: number[]): Promise<Float32Array> {
  const backend = new RefBackend()
  const w = await loadWeights(source, backend, { ends: true })
  const ends = new ModelEnds(source.config, backend, w.ends!)
  const span = new LocalSpanExecutor(source.config, backend, w, { start: 0, end: source.config.nLayers, modelId: 'test' })
  const session = await span.open('s', { maxLength: ids.length })
  const hidden = await session.forward(await ends.embed(ids), ids.map((_, i) => i))
  return await ends.logits(hidden.subarray(hidden.length - source.config.dim))
}

function cosine (a: Float32Array, b: Float32Array): number {
  let ab = 0; let aa = 0; let bb = 0
  for (let i = 0; i < a.length; i++) { ab += a[i]! * b[i]!; aa += a[i]! ** 2; bb += b[i]! ** 2 }
  return ab / Math.sqrt(aa * bb)
}

describe('gridllm quantize', () => {
  const prompt = [1, 403, 407, 261, 378, 432]

  for (const [type, fileType, minCosine] of [['q8_0', 7, 0.999], ['q4_0', 2, 0.98]] as const) {
    it(`writes a ${type} GGUF of stories260K that keeps metadata and predicts like the original`, async () => {
      const out = join(dir, `stories-${type}.gguf`)
      const r = await quantizeModel(STORIES, out, type)
      const original = await openModel(STORIES)
      const quantized = await openModel(out)
      assert.equal(r.tensors, original.tensors.size)
      for (const t of quantized.tensors.values()) {
        const want = t.shape.length === 2 && t.shape[1]! % 32 === 0 ? type : original.tensors.get(t.name)!.dtype
        assert.equal(t.dtype, want, t.name)
      }
      // ffn_down's rows (hidden 172) are not a multiple of 32: it stays f32, as llama.cpp leaves it
      assert.equal(quantized.tensors.get('blk.0.ffn_down.weight')!.dtype, 'f32')
      const a = readGguf(STORIES).metadata
      const b = readGguf(out).metadata
      assert.equal(b.get('general.file_type'), fileType)
      // general.alignment 32 is the default, which the writer leaves implicit
      for (const [key, value] of a) if (key !== 'general.file_type' && key !== 'general.alignment') assert.deepEqual(b.get(key), value, key)
      assert.deepEqual(quantized.tokenizer, original.tokenizer)
      const c = cosine(await logits(quantized, prompt), await logits(original, prompt))
      assert.ok(c > minCosine, `logits cosine ${c}`)
    })
  }

  it('converts a Hugging Face Llama folder, permuting Q and K for GGUF rotary order', async () => {
    const hf = join(dir, 'hf-llama')
    writeTinyHfLlama(hf)
    const out = join(dir, 'hf-llama-q8.gguf')
    await quantizeModel(hf, out, 'q8_0')
    const source = await openModel(hf)
    const converted = await openModel(out)
    assert.equal(converted.config.ropeStyle, 'interleaved')
    assert.equal(source.config.ropeStyle, 'neox')
    assert.equal(converted.tokenizer?.kind, 'hf')
    assert.equal(readGguf(out).metadata.get('tokenizer.ggml.pre'), 'default')
    const ids = [3, 70, 71, 72, 101, 33, 7]
    const c = cosine(await logits(converted, ids), await logits(source, ids))
    assert.ok(c > 0.999, `logits cosine ${c}`)
  })

  for (const [type, minCosine] of [['q4_k_m', 0.98], ['q5_k_m', 0.99], ['q6_k', 0.998]] as const) {
    it(`writes ${type} with llama.cpp's per-tensor types; it predicts like the original`, async () => {
      const input = join(dir, 'k-shape.gguf')
      writeSyntheticGguf(input, { dim: 256, hiddenDim: 512, nLayers: 8, nHeads: 4, nKvHeads: 2, vocabSize: 320, contextLength: 64, tied: false }, { seed: 3 })
      const out = join(dir, `k-shape-${type}.gguf`)
      const r = await quantizeModel(input, out, type)
      const original = await openModel(input)
      const quantized = await openModel(out)
      const want = tensorTypes([...original.tensors.values()], type, 8)
      for (const t of quantized.tensors.values()) assert.equal(t.dtype, want.get(t.name), t.name)
      assert.equal(quantized.tensors.get('output.weight')!.dtype, 'q6_k')
      assert.equal(r.types.q6_k! > 0, true)
      assert.equal(readGguf(out).metadata.get('general.file_type'), RECIPES[type].fileType)
      const prompt = [1, 40, 41, 42, 43]
      const c = cosine(await logits(quantized, prompt), await logits(original, prompt))
      assert.ok(c > minCosine, `logits cosine ${c}`)
    })
  }

  it('converts Llama 3 RoPE scaling and Qwen3 folders: rope_freqs.weight, per-head norms', async () => {
    for (const arch of ['llama', 'qwen3'] as const) {
      const pair = writeTinyPair(join(dir, `tiny-${arch}`), arch, arch === 'llama'
        ? { ropeScaling: { config: { rope_type: 'llama3', factor: 8, low_freq_factor: 1, high_freq_factor: 4, original_max_position_embeddings: 64 }, ropeFreqs: [] } }
        : {})
      const out = join(dir, `tiny-${arch}-q8.gguf`)
      await quantizeModel(pair.hfDir, out, 'q8_0')
      const source = await openModel(pair.hfDir)
      const converted = await openModel(out)
      assert.deepEqual(converted.config.ropeFreqFactors, source.config.ropeFreqFactors)
      assert.equal(converted.config.qkNorm, source.config.qkNorm)
      assert.equal(converted.config.architecture, arch)
      const ids = [3, 70, 71, 72, 101, 33, 7]
      const c = cosine(await logits(converted, ids), await logits(source, ids))
      assert.ok(c > 0.999, `${arch} logits cosine ${c}`)
    }
  })

  it('refuses a llama2.c checkpoint', async () => {
    await assert.rejects(quantizeModel(STORIES.replace('.gguf', '.bin'), join(dir, 'x.gguf'), 'q8_0'), /GGUF files and Hugging Face folders/)
  })
})

/** A 2-layer Llama with a byte-level BPE vocabulary (256 bytes + one special token), F32 safetensors. */
function writeTinyHfLlama (hf: string): void {
  const dim = 64; const hidden = 96; const nLayers = 2; const nHeads = 4; const nKv = 2; const vocab = 257
  const kvDim = (dim / nHeads) * nKv
  const tensors: Array<[string, number[]]> = [['model.embed_tokens.weight', [vocab, dim]], ['model.norm.weight', [dim]]]
  for (let l = 0; l < nLayers; l++) {
    const p = `model.layers.${l}.`
    tensors.push([`${p}input_layernorm.weight`, [dim]], [`${p}post_attention_layernorm.weight`, [dim]],
      [`${p}self_attn.q_proj.weight`, [dim, dim]], [`${p}self_attn.k_proj.weight`, [kvDim, dim]], [`${p}self_attn.v_proj.weight`, [kvDim, dim]],
      [`${p}self_attn.o_proj.weight`, [dim, dim]], [`${p}mlp.gate_proj.weight`, [hidden, dim]], [`${p}mlp.up_proj.weight`, [hidden, dim]],
      [`${p}mlp.down_proj.weight`, [dim, hidden]])
  }
  const header: Record<string, unknown> = {}
  const chunks: Uint8Array[] = []
  let offset = 0
  tensors.forEach(([name, shape], i) => {
    const n = shape.reduce((a, b) => a * b, 1)
    const values = shape.length === 1 ? Float32Array.from({ length: n }, (_, j) => 1 + 0.1 * Math.sin(j)) : randomF32(n, 100 + i, 1 / Math.sqrt(shape[1]!))
    chunks.push(encode('f32', values))
    header[name] = { dtype: 'F32', shape, data_offsets: [offset, offset + n * 4] }
    offset += n * 4
  })
  const json = Buffer.from(JSON.stringify(header))
  const len = Buffer.alloc(8)
  len.writeBigUInt64LE(BigInt(json.length))
  mkdirSync(hf, { recursive: true })
  writeFileSync(join(hf, 'model.safetensors'), Buffer.concat([len, json, ...chunks]))
  writeFileSync(join(hf, 'config.json'), JSON.stringify({
    architectures: ['LlamaForCausalLM'], hidden_size: dim, intermediate_size: hidden, num_hidden_layers: nLayers, num_attention_heads: nHeads,
    num_key_value_heads: nKv, vocab_size: vocab, max_position_embeddings: 128, rms_norm_eps: 1e-5, rope_theta: 10000, tie_word_embeddings: true,
    bos_token_id: 256, eos_token_id: 256
  }))
  // GPT-2's byte → printable character map
  const printable = [...range(33, 126), ...range(161, 172), ...range(174, 255)]
  const byteChars: string[] = []
  let extra = 0
  for (let b = 0; b < 256; b++) byteChars[b] = String.fromCodePoint(printable.includes(b) ? b : 256 + extra++)
  const byteLevel = { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true }
  writeFileSync(join(hf, 'tokenizer.json'), JSON.stringify({
    version: '1.0', truncation: null, padding: null,
    added_tokens: [{ id: 256, content: '<|endoftext|>', special: true, single_word: false, lstrip: false, rstrip: false, normalized: false }],
    normalizer: null, pre_tokenizer: byteLevel, post_processor: null, decoder: byteLevel,
    model: { type: 'BPE', dropout: null, unk_token: null, continuing_subword_prefix: null, end_of_word_suffix: null, fuse_unk: false, byte_fallback: false, vocab: Object.fromEntries(byteChars.map((c, i) => [c, i])), merges: [] }
  }))
}

function range (a: number, b: number): number[] {
  return Array.from({ length: b - a + 1 }, (_, i) => a + i)
}

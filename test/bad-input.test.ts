/**
 * Test 6: broken or unsupported inputs give typed errors with clear messages, never a crash or a
 * silent wrong answer.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync, mkdirSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Model, openModel } from '../src/model/index.ts'
import { writeGguf, meta } from '../src/model/gguf/writer.ts'
import { syntheticGgufSpec, type ModelShape } from '../src/model/synthetic.ts'
import { run } from '../src/cli/main.ts'
import { STORIES_BIN, STORIES_GGUF } from './fixtures/stories.ts'
import { writeTinyPair } from './fixtures/hf-model.ts'

const dir = mkdtempSync(join(tmpdir(), 'gridllm-bad-'))
test.after(() => rmSync(dir, { recursive: true, force: true }))

const SMALL: ModelShape = { dim: 64, hiddenDim: 128, nLayers: 2, nHeads: 4, nKvHeads: 2, vocabSize: 300, contextLength: 32 }
let n = 0
const file = (name: string): string => join(dir, `${n++}-${name}`)

function truncated (src: string, bytes: number): string {
  const path = file('truncated' + src.slice(src.lastIndexOf('.')))
  writeFileSync(path, readFileSync(src).subarray(0, bytes))
  return path
}

test('file not found', async () => {
  await assert.rejects(openModel(join(dir, 'nope.gguf')), { code: 'FILE_NOT_FOUND', name: 'FileNotFoundError', message: /nope\.gguf/ })
  await assert.rejects(openModel(STORIES_BIN, { tokenizer: join(dir, 'missing-tok.bin') }), { code: 'FILE_NOT_FOUND', message: /missing-tok\.bin/ })
})

test('truncated files: GGUF header, GGUF data, llama2.c checkpoint, llama2.c tokenizer, safetensors', async () => {
  await assert.rejects(openModel(truncated(STORIES_GGUF, 2000)), { code: 'BAD_MODEL_FILE', message: /truncated GGUF header/ })
  await assert.rejects(openModel(truncated(STORIES_GGUF, 600_000)), { code: 'BAD_MODEL_FILE', message: /truncated, tensor "blk\.\d\.[a-z_.]+" ends at byte/ })
  await assert.rejects(openModel(truncated(STORIES_BIN, 20)), { code: 'BAD_MODEL_FILE', message: /truncated llama2\.c checkpoint/ })
  await assert.rejects(openModel(truncated(STORIES_BIN, 500_000)), { code: 'BAD_MODEL_FILE', message: /truncated/ })
  const tok = truncated(join(STORIES_BIN, '../tok512.bin'), 3000)
  await assert.rejects(openModel(STORIES_BIN, { tokenizer: tok }), { code: 'BAD_MODEL_FILE', message: /truncated llama2\.c tokenizer/ })
  const pair = writeTinyPair(join(dir, 'st'), 'llama')
  const st = join(pair.hfDir, 'model.safetensors')
  writeFileSync(st, readFileSync(st).subarray(0, 5000))
  await assert.rejects(openModel(pair.hfDir), { code: 'BAD_MODEL_FILE', message: /truncated/ })
})

test('wrong magic, unknown version, not a model at all', async () => {
  const bytes = readFileSync(STORIES_GGUF)
  const badMagic = file('magic.gguf')
  writeFileSync(badMagic, Buffer.concat([Buffer.from('GGML'), bytes.subarray(4)]))
  await assert.rejects(openModel(badMagic), { code: 'BAD_MODEL_FILE', message: /not a GGUF file \(wrong magic\)/ })
  const v1 = file('v1.gguf')
  const copy = Buffer.from(bytes)
  copy.writeUInt32LE(1, 4)
  writeFileSync(v1, copy)
  await assert.rejects(openModel(v1), { code: 'BAD_MODEL_FILE', message: /GGUF version 1 is not supported/ })
  const text = file('notes.txt')
  writeFileSync(text, 'hello')
  await assert.rejects(openModel(text), { code: 'BAD_MODEL_FILE', message: /not a model this runtime reads/ })
})

test('unsupported tensor type names the type and the tensor', async () => {
  const spec = syntheticGgufSpec(SMALL, { dtype: 'q8_0' })
  const path = file('q4k.gguf')
  writeGguf(path, spec.metadata, spec.tensors)
  // turn blk.1.ffn_up.weight's type from Q8_0 (8) into IQ4_NL (20), then Q4_K (12), whose 256-blocks do not fit its rows of 64
  const buf = readFileSync(path)
  const name = Buffer.from('blk.1.ffn_up.weight')
  const at = buf.indexOf(name) + name.length
  const nDims = buf.readUInt32LE(at)
  buf.writeUInt32LE(20, at + 4 + 8 * nDims)
  writeFileSync(path, buf)
  await assert.rejects(openModel(path), { code: 'UNSUPPORTED_TENSOR_TYPE', message: /"blk\.1\.ffn_up\.weight" has type IQ4_NL/ })
  buf.writeUInt32LE(12, at + 4 + 8 * nDims)
  writeFileSync(path, buf)
  await assert.rejects(openModel(path), { code: 'SHAPE_MISMATCH', message: /"blk\.1\.ffn_up\.weight": a q4_k row must be a multiple of 256 elements, got 64/ })
})

test('unsupported architecture names it', async () => {
  const spec = syntheticGgufSpec(SMALL)
  spec.metadata = spec.metadata.map(([k, v]) => k === 'general.architecture' ? [k, meta.str('mamba')] as const : [k, v] as const)
  const path = file('mamba.gguf')
  writeGguf(path, spec.metadata, spec.tensors)
  await assert.rejects(openModel(path), { code: 'UNSUPPORTED_ARCHITECTURE', message: /"mamba".*llama, qwen2/ })
  const pair = writeTinyPair(join(dir, 'gpt2'), 'llama')
  writeFileSync(join(pair.hfDir, 'config.json'), JSON.stringify({ architectures: ['GPT2LMHeadModel'] }))
  await assert.rejects(openModel(pair.hfDir), { code: 'UNSUPPORTED_ARCHITECTURE', message: /GPT2LMHeadModel/ })
})

test('missing tensor and shape mismatch name the tensor', async () => {
  const spec = syntheticGgufSpec(SMALL)
  const missing = file('missing.gguf')
  writeGguf(missing, spec.metadata, spec.tensors.filter(t => t.name !== 'blk.1.attn_v.weight'))
  await assert.rejects(openModel(missing), { code: 'MISSING_TENSOR', message: /"blk\.1\.attn_v\.weight" is missing/ })

  const wrong = file('shape.gguf')
  writeGguf(wrong, spec.metadata, spec.tensors.map(t => t.name === 'blk.0.ffn_down.weight' ? { ...t, shape: [64, 96], data: new Uint8Array(64 * 96 * 4) } : t))
  await assert.rejects(openModel(wrong), { code: 'SHAPE_MISMATCH', message: /"blk\.0\.ffn_down\.weight" has shape \[64, 96\], expected \[64, 128\]/ })

  const noBlockCount = file('meta.gguf')
  writeGguf(noBlockCount, spec.metadata.filter(([k]) => k !== 'llama.block_count'), spec.tensors)
  await assert.rejects(openModel(noBlockCount), { code: 'BAD_MODEL_FILE', message: /"llama\.block_count" is missing/ })
})

test('a prompt longer than the context is refused before any work', async () => {
  const model = await Model.load(STORIES_GGUF)
  try {
    assert.throws(() => model.generate('Once upon a time '.repeat(200)), { code: 'CONTEXT_OVERFLOW', name: 'ContextOverflowError', message: /prompt is \d+ tokens; the model's context holds 512/ })
    assert.equal(model.executors.map(e => (e as { openSessions?: number }).openSessions).join(), '0')
  } finally {
    await model.close()
  }
})

test('a token id outside the vocabulary is a typed error', async () => {
  const model = await Model.load(STORIES_GGUF)
  try {
    await assert.rejects(async () => { for await (const _ of model.generate([1, 600], { maxTokens: 1 })) { /* consume */ } }, { code: 'INVALID_ARGUMENT', message: /token id 600/ })
  } finally {
    await model.close()
  }
})

test('a llama2.c checkpoint without a tokenizer asks for one', async () => {
  const lone = join(dir, 'lone')
  mkdirSync(lone)
  copyFileSync(STORIES_BIN, join(lone, 'model.bin'))
  await assert.rejects(Model.load(join(lone, 'model.bin')), { code: 'BAD_MODEL_FILE', message: /no tokenizer; pass one with --tokenizer/ })
})

test('the CLI reports typed errors with their code and exit status 1; bad flags exit 2', async () => {
  const out: string[] = []
  const err: string[] = []
  const ctx = {
    stdout: { write: (s: string) => { out.push(s); return true } } as unknown as NodeJS.WritableStream,
    stderr: { write: (s: string) => { err.push(s); return true } } as unknown as NodeJS.WritableStream,
    env: {},
    signal: new AbortController().signal
  }
  assert.equal(await run(['generate', '--model', join(dir, 'absent.gguf')], ctx), 1)
  assert.match(err.join(''), /file not found: .*absent\.gguf \[FILE_NOT_FOUND\]/)
  assert.equal(await run(['generate', '--temperature', 'hot'], ctx), 2)
  assert.match(err.join(''), /--temperature must be a number/)
  assert.equal(await run(['generate', '--spans', '0-2'], ctx), 2)
  assert.equal(await run(['frobnicate'], ctx), 2)
})

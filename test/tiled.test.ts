/**
 * stories260K widened 4× (test/fixtures/tiled-stories.ts) computes what stories260K computes: its
 * f32 form gives llama2.c's 200 greedy tokens; quantized by gridllm to K-quant mixes it still
 * tells stories, loading on both backends alike. (bench/llama-compat.ts runs it in llama.cpp.)
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Model } from '../src/model/index.ts'
import { quantizeModel } from '../src/cli/quantize.ts'
import { expectedIds } from './fixtures/stories.ts'
import { writeTiledStories } from './fixtures/tiled-stories.ts'

const dir = mkdtempSync(join(tmpdir(), 'gridllm-tiled-'))
test.after(() => rmSync(dir, { recursive: true, force: true }))
const f32 = join(dir, 'tiled-f32.gguf')

async function greedy (path: string, backend: 'ref' | 'wasm', n: number): Promise<number[]> {
  const model = await Model.load(path, { backend, threads: 1 })
  try {
    const ids: number[] = []
    for await (const t of model.generate([], { temperature: 0, maxTokens: n })) ids.push(t.id)
    return ids
  } finally {
    await model.close()
  }
}

test('the f32 tiled model gives llama2.c\'s greedy 200 tokens (wasm)', async () => {
  await writeTiledStories(f32)
  assert.deepEqual(await greedy(f32, 'wasm', 200), expectedIds())
})

for (const type of ['q8_0', 'q6_k', 'q4_k_m'] as const) {
  test(`its ${type} quantization keeps most greedy tokens and runs alike on ref and wasm`, async () => {
    const out = join(dir, `tiled-${type}.gguf`)
    await quantizeModel(f32, out, type)
    const wasm = await greedy(out, 'wasm', 40)
    const ref = await greedy(out, 'ref', 40)
    const want = expectedIds().slice(0, 40)
    const agree = (a: number[]): number => { let i = 0; while (i < a.length && a[i] === want[i]) i++; return i }
    assert.ok(agree(wasm) >= (type === 'q4_k_m' ? 10 : 20), `${type} wasm agrees on ${agree(wasm)} tokens`)
    assert.ok(agree(ref) >= (type === 'q4_k_m' ? 10 : 20), `${type} ref agrees on ${agree(ref)} tokens`)
  })
}

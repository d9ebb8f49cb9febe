/**
 * Golden test 1: stories260K, greedy, 200 steps from BOS, no prompt, must give exactly llama2.c's
 * reference ids and text, through the .bin + tok512.bin and through the .gguf, on every backend.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { backendNames } from '../src/kernels/index.ts'
import { navigatorGpu } from '../src/kernels/webgpu/index.ts'
import { Model } from '../src/model/index.ts'
import { STORIES_BIN, STORIES_GGUF, STORIES_TOK, expectedIds, expectedText } from './fixtures/stories.ts'

const files = [
  { name: 'llama2.c .bin + tok512.bin', path: STORIES_BIN, tokenizer: STORIES_TOK },
  { name: 'GGUF', path: STORIES_GGUF, tokenizer: undefined }
]

for (const backend of backendNames) {
  for (const file of files) {
    // Node has no WebGPU: test/web/tab-webgpu.test.ts runs this golden on webgpu in Chromium (?run=golden)
    const skip = backend === 'webgpu' && navigatorGpu() === undefined ? 'no navigator.gpu in this runtime' : false
    test(`stories260K ${file.name} on ${backend}: greedy 200 tokens match llama2.c`, { skip }, async () => {
      const model = await Model.load(file.path, { tokenizer: file.tokenizer, backend })
      try {
        const gen = model.generate([], { temperature: 0, maxTokens: 200 })
        const ids: number[] = []
        let streamed = ''
        for await (const t of gen) { ids.push(t.id); streamed += t.text }
        assert.deepEqual(ids, expectedIds())
        assert.equal(streamed, expectedText())
        assert.equal(gen.text, expectedText())
        assert.equal(gen.finishReason, 'length')
        assert.equal(gen.completionTokens, 200)
      } finally {
        await model.close()
      }
    })
  }
}

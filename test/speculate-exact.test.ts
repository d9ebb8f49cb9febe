/**
 * Speculation within the exact draft length (auto's default) on quantized weights: the kernels run
 * steps of up to 3 rows row by row as they decode, so greedy tokens and their log-probabilities are
 * bit for bit those of plain decoding, also where longer steps would round differently (Q4_0).
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { quantizeModel } from '../src/cli/quantize.ts'
import { EXACT_DRAFT, Model } from '../src/model/index.ts'
import { referenceDrafter, wrongDrafter } from './fixtures/drafters.ts'
import { STORIES_GGUF } from './fixtures/stories.ts'

test('on quantized weights, drafts within the exact length give greedy output and logprobs bit for bit', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'gridllm-spec-'))
  const path = join(dir, 'stories-q4_0.gguf')
  await quantizeModel(STORIES_GGUF, path, 'q4_0')
  const q4 = await Model.load(path)
  try {
    const run = async (options: object): Promise<Array<[number, number]>> => {
      const out: Array<[number, number]> = []
      for await (const t of q4.generate([1], { temperature: 0, maxTokens: 120, logprobs: 0, ...options })) out.push([t.id, t.logprob!.logprob])
      return out
    }
    const plain = await run({})
    const ids = plain.map(([id]) => id)
    for (const speculate of [{}, { k: EXACT_DRAFT, drafter: referenceDrafter(ids, 1, q4.config.vocabSize, 3) }, { k: EXACT_DRAFT, drafter: wrongDrafter(ids, 1, q4.config.vocabSize) }]) {
      assert.deepEqual(await run({ speculate }), plain)
    }
  } finally {
    await q4.close()
    rmSync(dir, { recursive: true, force: true })
  }
})


/**
 * Golden test 3: logits computed incrementally through the KV cache equal logits computed from
 * scratch over the whole sequence (max abs difference < 1e-4), across chunk boundaries, span
 * boundaries and rollbacks.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { Model, type SpanSession } from '../src/model/index.ts'
import { STORIES_GGUF, expectedIds } from './fixtures/stories.ts'

const BOS = 1

function maxAbsDiff (a: Float32Array, b: Float32Array): number {
  assert.equal(a.length, b.length)
  let m = 0
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!))
  return m
}

/** Runs `ids` at positions [pos0, …) through every session; returns logits (n, vocabSize). */
async function step (model: Model, sessions: SpanSession[], ids: number[], pos0: number): Promise<Float32Array> {
  let hidden = await model.ends.embed(ids)
  const positions = ids.map((_, i) => pos0 + i)
  for (const s of sessions) hidden = await s.forward(hidden, positions)
  return await model.ends.logits(hidden)
}

async function open (model: Model, id: string, maxLength: number): Promise<SpanSession[]> {
  return await Promise.all(model.executors.map(async e => await e.open(id, { maxLength })))
}

for (const spans of [undefined, [[0, 2], [2, 5]] as Array<[number, number]>]) {
  test(`incremental decode equals full recompute at every position (${spans === undefined ? 'one span' : 'spans 0:2,2:5'})`, async () => {
    const model = await Model.load(STORIES_GGUF, { spans })
    const vocab = model.config.vocabSize
    const tokens = [BOS, ...expectedIds()] // 201 tokens: prefill crosses several 64-row chunks
    try {
      const full = await step(model, await open(model, 'full', tokens.length), tokens, 0) // (201, vocab) in one call

      const inc = await open(model, 'inc', tokens.length)
      let worst = 0
      for (let p = 0; p < tokens.length; p++) {
        const logits = await step(model, inc, [tokens[p]!], p)
        worst = Math.max(worst, maxAbsDiff(logits, full.subarray(p * vocab, (p + 1) * vocab)))
      }
      assert.ok(worst < 1e-4, `max abs difference ${worst}`)

      // a prefill of 100 tokens, then one by one
      const mixed = await open(model, 'mixed', tokens.length)
      const head = await step(model, mixed, tokens.slice(0, 100), 0)
      assert.ok(maxAbsDiff(head, full.subarray(0, 100 * vocab)) < 1e-4)
      for (let p = 100; p < 110; p++) {
        const logits = await step(model, mixed, [tokens[p]!], p)
        assert.ok(maxAbsDiff(logits, full.subarray(p * vocab, (p + 1) * vocab)) < 1e-4)
      }

      // rollback to 50 and replay different tokens, then the original ones again
      for (const s of mixed) await s.rollback(50)
      assert.equal(mixed[0]!.length, 50)
      await step(model, mixed, [7, 8, 9], 50)
      for (const s of mixed) await s.rollback(50)
      const again = await step(model, mixed, tokens.slice(50, 60), 50)
      assert.ok(maxAbsDiff(again, full.subarray(50 * vocab, 60 * vocab)) < 1e-4)
    } finally {
      await model.close()
    }
  })
}

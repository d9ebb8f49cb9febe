import assert from 'node:assert/strict'
import { test } from 'node:test'
import { DEFAULT_MODEL } from '../../cli/command.ts'
import { Model } from '../model.ts'
import { INLINE_CHARS } from './offload.ts'

test('a long text is tokenized on a worker, to the same ids, without holding the event loop', async () => {
  const model = await Model.load(DEFAULT_MODEL, { backend: 'ref' })
  const text = 'Once upon a time, there was a little girl named Lily. She loved to play outside. '.repeat(600) // ~48 KB
  assert.ok(text.length > INLINE_CHARS)
  const inline = model.tokenizer.encode(text)
  await model.encode('warm up the worker '.repeat(1000))
  let longest = 0
  let last = performance.now()
  const ticker = setInterval(() => { const now = performance.now(); longest = Math.max(longest, now - last); last = now }, 5)
  const t0 = performance.now()
  const ids = await model.encode(text)
  const ms = performance.now() - t0
  clearInterval(ticker)
  assert.deepEqual(ids, inline)
  assert.ok(longest < 50, `the event loop was held for ${longest.toFixed(0)} ms during a ${ms.toFixed(0)} ms tokenization`)
  assert.deepEqual(await model.encode('short', { addBos: false }), model.tokenizer.encode('short', { addBos: false }))
  await model.close()
})

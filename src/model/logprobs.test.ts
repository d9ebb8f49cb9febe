import assert from 'node:assert/strict'
import { test } from 'node:test'
import { tokenLogprob } from './logprobs.ts'

test('logprobs are the log-softmax at the temperature; masked tokens are -Infinity and never in the top list', () => {
  const l = Float32Array.from([2, 1, -Infinity, 0])
  const lp = tokenLogprob(l, 1, 1, 3)
  const z = Math.log(Math.exp(2) + Math.exp(1) + 1)
  assert.ok(Math.abs(lp.logprob - (1 - z)) < 1e-9)
  assert.deepEqual(lp.top.map(t => t.id), [0, 1, 3])
  assert.ok(Math.abs(lp.top.reduce((s, t) => s + Math.exp(t.logprob), 0) - 1) < 1e-9)
  const hot = tokenLogprob(l, 2, 0, 0)
  assert.ok(Math.abs(hot.logprob - (1 - Math.log(Math.exp(1) + Math.exp(0.5) + 1))) < 1e-9)
  assert.deepEqual(hot.top, [])
  assert.equal(tokenLogprob(l, 0, 2, 1).logprob, -Infinity) // greedy: temperature 1
})

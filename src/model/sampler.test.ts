import { test } from 'node:test'
import assert from 'node:assert/strict'
import { Prng, Sampler, argmax, topIds } from './sampler.ts'

const logits = Float32Array.from([1, 3, 2.5, -1, 0, 2.9])

test('greedy picks the first maximum', () => {
  assert.equal(new Sampler({ temperature: 0 }).sample(logits), 1)
  assert.equal(argmax(Float32Array.from([2, 5, 5, 1])), 1)
})

test('the same seed gives the same draws; different seeds differ', () => {
  const draw = (seed: number): number[] => {
    const s = new Sampler({ temperature: 1, topK: 0, topP: 1, minP: 0, seed })
    return Array.from({ length: 50 }, () => s.sample(logits))
  }
  assert.deepEqual(draw(42), draw(42))
  assert.notDeepEqual(draw(42), draw(43))
})

test('the PRNG is uniform enough', () => {
  const r = new Prng(7)
  const buckets = new Array(10).fill(0)
  for (let i = 0; i < 100000; i++) buckets[Math.floor(r.next() * 10)]++
  for (const b of buckets) assert.ok(Math.abs(b - 10000) < 500, `bucket ${b}`)
})

test('top-k 1 and tiny top-p are greedy; min-p drops unlikely tokens', () => {
  for (let seed = 0; seed < 20; seed++) {
    assert.equal(new Sampler({ temperature: 1.5, topK: 1, seed }).sample(logits), 1)
    assert.equal(new Sampler({ temperature: 1.5, topK: 0, topP: 0.01, minP: 0, seed }).sample(logits), 1)
    // p(5) / p(1) = e^-0.1 ≈ 0.9, p(2)/p(1) ≈ 0.61, the rest are below 0.2 of the best
    const s = new Sampler({ temperature: 1, topK: 0, topP: 1, minP: 0.5, seed })
    assert.ok([1, 2, 5].includes(s.sample(logits)))
  }
})

test('sampling frequencies follow softmax at the temperature', () => {
  const s = new Sampler({ temperature: 0.5, topK: 0, topP: 1, minP: 0, seed: 3 })
  const two = Float32Array.from([0, Math.log(2) * 0.5]) // at T=0.5, p1/p0 = 2
  let ones = 0
  for (let i = 0; i < 30000; i++) ones += s.sample(two)
  assert.ok(Math.abs(ones / 30000 - 2 / 3) < 0.015, `${ones / 30000}`)
})

test('repetition penalty pushes recent tokens down', () => {
  const s = new Sampler({ temperature: 0, repeatPenalty: 2 })
  assert.equal(s.sample(logits, [1]), 5) // 3/2 = 1.5 < 2.9
  assert.equal(s.sample(logits, [1, 5]), 2)
  assert.equal(new Sampler({ temperature: 0, repeatPenalty: 2, repeatLastN: 1 }).sample(logits, [1, 5]), 1)
})

test('invalid options are typed errors', () => {
  assert.throws(() => new Sampler({ temperature: -1 }), { code: 'INVALID_ARGUMENT' })
  assert.throws(() => new Sampler({ topP: 1.5 }), { code: 'INVALID_ARGUMENT' })
  assert.throws(() => new Sampler({ minP: Number.NaN }), { code: 'INVALID_ARGUMENT' })
})

test('presence and frequency penalties lower tokens already generated, by OpenAI\'s formula', () => {
  const s = new Sampler({ temperature: 0, presencePenalty: 0.5, frequencyPenalty: 0.25 })
  const l = Float32Array.from([1, 3, 2.5, -1, 0, 2.9])
  s.accept(1)
  s.accept(1)
  s.accept(5)
  const p = l.slice()
  s.penalize(p, [])
  assert.deepEqual([...p].map(v => Math.round(v * 100) / 100), [1, 2, 2.5, -1, 0, 2.15]) // 3 - 2·0.25 - 0.5, 2.9 - 0.25 - 0.5
  assert.equal(s.sample(l), 2)
  assert.deepEqual([...l], [...Float32Array.from([1, 3, 2.5, -1, 0, 2.9])], 'sample() leaves its input alone')
  assert.throws(() => new Sampler({ presencePenalty: 3 }), { code: 'INVALID_ARGUMENT' })
})

test('top-k by selection orders as a stable sort would', () => {
  const l = Float32Array.from([0, 5, 5, -Infinity, 3, 5, 1])
  assert.deepEqual(topIds(l, 4), [1, 2, 5, 4])
  assert.deepEqual(topIds(l, 10), [1, 2, 5, 4, 6, 0])
})

import { test } from 'node:test'
import assert from 'node:assert/strict'
import { blockThroughputs, chooseStart, rebalance } from './blocks.ts'

test('block throughput sums the servers covering each block', () => {
  assert.deepEqual([...blockThroughputs(5, [{ start: 0, end: 3, throughput: 2 }, { start: 2, end: 5, throughput: 1 }])], [2, 2, 3, 1, 1])
})

test('a joining server takes the uncovered span', () => {
  const others = [{ start: 0, end: 2, throughput: 5 }, { start: 2, end: 3, throughput: 5 }]
  assert.equal(chooseStart(5, 2, 1, others), 3)
  assert.equal(chooseStart(5, 1, 1, others), 3) // block 3 first: ties go to the lowest start
  assert.equal(chooseStart(6, 2, 1, [{ start: 0, end: 2, throughput: 5 }, { start: 4, end: 6, throughput: 5 }]), 2)
})

test('with every block covered it reinforces the weakest', () => {
  const others = [{ start: 0, end: 3, throughput: 10 }, { start: 3, end: 6, throughput: 2 }]
  assert.equal(chooseStart(6, 3, 4, others), 3)
  assert.equal(chooseStart(6, 2, 4, others), 3)
  assert.equal(chooseStart(3, 3, 1, []), 0)
  assert.throws(() => chooseStart(3, 4, 1, []))
})

test('rebalance moves a server to an uncovered block when its own stay covered', () => {
  // self and a twin serve 0:2; blocks 3-4 lost their server
  const others = [{ start: 0, end: 2, throughput: 5 }, { start: 2, end: 3, throughput: 5 }]
  const d = rebalance(5, { start: 0, end: 2, throughput: 5 }, others)
  assert.equal(d.move, true)
  assert.equal(d.start, 3)
})

test('rebalance never uncovers a block, and stays put without a clear gain', () => {
  // self is the only server of 0:2: moving would uncover it
  const alone = rebalance(5, { start: 0, end: 2, throughput: 5 }, [{ start: 2, end: 3, throughput: 5 }])
  assert.equal(alone.move, false)
  // a small gain (weakest 4 → 4.5) is below the hysteresis
  const small = rebalance(4, { start: 0, end: 2, throughput: 0.5 }, [{ start: 0, end: 2, throughput: 4 }, { start: 2, end: 4, throughput: 4 }])
  assert.equal(small.move, false)
  // a big one (weakest 1 → 5) moves
  const big = rebalance(4, { start: 0, end: 2, throughput: 4 }, [{ start: 0, end: 2, throughput: 4 }, { start: 2, end: 4, throughput: 1 }])
  assert.equal(big.move, true)
  assert.equal(big.start, 2)
  assert.ok(big.minAfter > big.minNow)
})

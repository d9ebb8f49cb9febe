import assert from 'node:assert/strict'
import { test } from 'node:test'
import { FairQueue } from './fair-queue.ts'

test('keys take turns: a key with many tasks waiting does not starve the others', async () => {
  const q = new FairQueue(100)
  const order: string[] = []
  const job = (key: string, i: number) => q.run(key, async () => { order.push(`${key}${i}`); await new Promise(resolve => setTimeout(resolve, 1)) })
  const all = [...Array.from({ length: 6 }, (_, i) => job('a', i)), job('b', 0), job('b', 1), job('c', 0)]
  await Promise.all(all)
  // a0 starts at once; then a, b and c take turns while they all wait
  assert.deepEqual(order, ['a0', 'a1', 'b0', 'c0', 'a2', 'b1', 'a3', 'a4', 'a5'])
})

test('one task at a time, results and errors reach their callers', async () => {
  const q = new FairQueue(10)
  let running = 0
  let most = 0
  const results = await Promise.allSettled(Array.from({ length: 8 }, async (_, i) => await q.run(`k${i % 3}`, async () => {
    running++
    most = Math.max(most, running)
    await new Promise(resolve => setTimeout(resolve, 2))
    running--
    if (i === 5) throw new Error('five')
    return i
  })))
  assert.equal(most, 1)
  assert.deepEqual(results.map(r => r.status === 'fulfilled' ? r.value : (r.reason as Error).message), [0, 1, 2, 3, 4, 'five', 6, 7])
  assert.equal(q.size, 0)
})

test('past maxPendingPerKey a key is refused with BUSY at once; others are not', async () => {
  const q = new FairQueue(2, 750)
  let release!: () => void
  const gate = new Promise<void>(resolve => { release = resolve })
  const held = [q.run('a', async () => await gate), q.run('a', async () => await gate)]
  await assert.rejects(q.run('a', () => 1), (err: unknown) => (err as { code?: string, retryAfterMs?: number }).code === 'BUSY' && (err as { retryAfterMs: number }).retryAfterMs === 750)
  const other = q.run('b', () => 'b')
  release()
  await Promise.all(held)
  assert.equal(await other, 'b')
  assert.equal(await q.run('a', () => 3), 3)
})

test('with a concurrency, that many tasks run together, the next ones in turn order', async () => {
  const q = new FairQueue(10, 1000, undefined, 3)
  let running = 0
  let most = 0
  const started: string[] = []
  const job = (key: string, i: number) => q.run(key, async () => {
    started.push(`${key}${i}`)
    running++
    most = Math.max(most, running)
    await new Promise(resolve => setTimeout(resolve, 2))
    running--
  })
  await Promise.all([job('a', 0), job('a', 1), job('a', 2), job('b', 0), job('c', 0), job('b', 1)])
  assert.equal(most, 3)
  // a0, a1, a2 start at once (nobody else waits yet); then b, c and b take the freed places in turn
  assert.deepEqual(started, ['a0', 'a1', 'a2', 'b0', 'c0', 'b1'])
  assert.equal(q.size, 0)
})

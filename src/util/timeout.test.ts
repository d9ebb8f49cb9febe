import assert from 'node:assert/strict'
import { test } from 'node:test'
import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import { deadline, sleep, withDeadline } from './timeout.ts'

setFlagsFromString('--expose-gc')
const gc = runInNewContext('gc') as () => void

test('a deadline fires even when nothing but the wait refers to its signal and the collector runs', { timeout: 5000 }, async () => {
  const waits = Array.from({ length: 20 }, async () => {
    const { signal } = deadline(50)
    await new Promise<void>(resolve => { signal.addEventListener('abort', () => { resolve() }, { once: true }) })
  })
  const collect = setInterval(gc, 5)
  await Promise.all(waits)
  clearInterval(collect)
})

test('a deadline follows its parent, carries a TIMEOUT reason of its own, and can be cleared', async () => {
  const parent = new AbortController()
  const d = deadline(10_000, parent.signal)
  parent.abort(new Error('mine'))
  assert.equal((d.signal.reason as Error).message, 'mine')
  const t = deadline(5)
  await sleep(30)
  assert.equal((t.signal.reason as { code?: string }).code, 'TIMEOUT')
  const c = deadline(5)
  c.clear()
  await sleep(30)
  assert.equal(c.signal.aborted, false)
})

test('withDeadline and sleep', async () => {
  await assert.rejects(withDeadline(20, undefined, async signal => { await sleep(1000, { signal }) }), (err: unknown) => (err as { code?: string }).code === 'TIMEOUT')
  assert.equal(await withDeadline(1000, undefined, async () => 7), 7)
  const c = new AbortController()
  const slept = sleep(1000, { signal: c.signal })
  c.abort()
  await assert.rejects(slept, (err: unknown) => (err as { code?: string }).code === 'ABORTED')
})

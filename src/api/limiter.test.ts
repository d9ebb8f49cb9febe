import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { Limiter } from './limiter.ts'

describe('Limiter', () => {
  test('runs up to maxConcurrency at once, queues up to maxQueue, refuses the rest', async () => {
    const limiter = new Limiter({ maxConcurrency: 2, maxQueue: 1 })
    const a = await limiter.acquire()
    const b = await limiter.acquire()
    assert.equal(limiter.active, 2)
    let cGranted = false
    const c = limiter.acquire().then(release => { cGranted = true; return release })
    assert.equal(limiter.queued, 1)
    await assert.rejects(limiter.acquire(), (err: Error & { code?: string, retryAfterSeconds?: number }) =>
      err.name === 'OverloadedError' && err.code === 'OVERLOADED' && err.retryAfterSeconds! >= 1)
    a()
    const releaseC = await c
    assert.ok(cGranted)
    assert.equal(limiter.active, 2, 'the slot passed straight to the waiter')
    assert.equal(limiter.queued, 0)
    a() // a second release does nothing
    assert.equal(limiter.active, 2)
    b()
    releaseC()
    assert.equal(limiter.active, 0)
  })

  test('waiters are served first come, first served', async () => {
    const limiter = new Limiter({ maxConcurrency: 1, maxQueue: 3 })
    const first = await limiter.acquire()
    const order: number[] = []
    const waiters = [1, 2, 3].map(async i => { const r = await limiter.acquire(); order.push(i); r() })
    first()
    await Promise.all(waiters)
    assert.deepEqual(order, [1, 2, 3])
    assert.equal(limiter.active, 0)
  })

  test('a waiter whose signal fires leaves the queue with an AbortError', async () => {
    const limiter = new Limiter({ maxConcurrency: 1, maxQueue: 1 })
    const held = await limiter.acquire()
    const controller = new AbortController()
    const waiting = limiter.acquire({ signal: controller.signal })
    assert.equal(limiter.queued, 1)
    controller.abort()
    await assert.rejects(waiting, (err: Error & { code?: string }) => err.code === 'ABORTED')
    assert.equal(limiter.queued, 0)
    held()
    assert.equal(limiter.active, 0, 'nobody was waiting: the slot is free')
    await assert.rejects(limiter.acquire({ signal: AbortSignal.abort() }), (err: Error & { code?: string }) => err.code === 'ABORTED')
  })

  test('maxQueue 0 refuses as soon as every slot is busy; bad limits are refused', async () => {
    const limiter = new Limiter({ maxConcurrency: 1, maxQueue: 0 })
    const held = await limiter.acquire()
    await assert.rejects(limiter.acquire(), { name: 'OverloadedError' })
    held()
    ;(await limiter.acquire())()
    assert.throws(() => new Limiter({ maxConcurrency: 0, maxQueue: 1 }), { code: 'INVALID_ARGUMENT' })
    assert.throws(() => new Limiter({ maxConcurrency: 1, maxQueue: -1 }), { code: 'INVALID_ARGUMENT' })
  })
})

import assert from 'node:assert/strict'
import { test } from 'node:test'
import { cpuMillis, nextTurn, timed } from './clock.ts'

test('timed counts CPU for busy work and not for a wait', async () => {
  assert.equal(typeof cpuMillis(), 'number')
  const busy = await timed(async () => { let x = 0; const end = performance.now() + 60; while (performance.now() < end) x++; return x })
  assert.ok(busy.value > 0)
  assert.ok(busy.cpuMs > 30 && busy.ms >= 59, `busy: ${busy.ms} ms wall, ${busy.cpuMs} ms cpu`)
  const idle = await timed(async () => { await new Promise(resolve => setTimeout(resolve, 80)) })
  assert.ok(idle.ms >= 75 && idle.cpuMs < 40, `idle: ${idle.ms} ms wall, ${idle.cpuMs} ms cpu`)
})

test('nextTurn runs after the current turn and its microtasks, with or without setImmediate (a browser)', async () => {
  for (const hide of [false, true]) {
    const saved = globalThis.setImmediate
    if (hide) (globalThis as { setImmediate?: unknown }).setImmediate = undefined
    try {
      const order: string[] = []
      const done = new Promise<void>(resolve => { nextTurn(() => { order.push('turn'); resolve() }) })
      void Promise.resolve().then(() => order.push('microtask'))
      order.push('sync')
      await done
      assert.deepEqual(order, ['sync', 'microtask', 'turn'], hide ? 'without setImmediate' : 'with setImmediate')
    } finally {
      globalThis.setImmediate = saved
    }
  }
})

import assert from 'node:assert/strict'
import { test } from 'node:test'
import { cpuMillis, timed } from './clock.ts'

test('timed counts CPU for busy work and not for a wait', async () => {
  assert.equal(typeof cpuMillis(), 'number')
  const busy = await timed(async () => { let x = 0; const end = performance.now() + 60; while (performance.now() < end) x++; return x })
  assert.ok(busy.value > 0)
  assert.ok(busy.cpuMs > 30 && busy.ms >= 59, `busy: ${busy.ms} ms wall, ${busy.cpuMs} ms cpu`)
  const idle = await timed(async () => { await new Promise(resolve => setTimeout(resolve, 80)) })
  assert.ok(idle.ms >= 75 && idle.cpuMs < 40, `idle: ${idle.ms} ms wall, ${idle.cpuMs} ms cpu`)
})

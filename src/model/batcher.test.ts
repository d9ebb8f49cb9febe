import { test } from 'node:test'
import assert from 'node:assert/strict'
import { fileURLToPath } from 'node:url'
import { type Backend, RefBackend } from '../kernels/index.ts'
import { createWasmBackend } from '../kernels/wasm/node.ts'
import type { SpanSession } from './span.ts'
import { LocalSpanExecutor, type LocalSpanOptions } from './span.ts'
import type { StepCost } from './batcher.ts'
import { openModel } from './open.ts'

const MODEL = fileURLToPath(new URL('../../models/stories260K/stories260K.gguf', import.meta.url))
const DIM = 64

async function executor (backend: Backend, options: Partial<LocalSpanOptions> = {}): Promise<LocalSpanExecutor> {
  return await LocalSpanExecutor.load(await openModel(MODEL), backend, { start: 0, end: 5, ...options })
}

/** Deterministic input rows (n, dim) for session `s` at step `t`. */
function rows (s: number, t: number, n = 1): Float32Array {
  return Float32Array.from({ length: n * DIM }, (_, i) => Math.sin(1 + s * 7.1 + t * 3.3 + i * 0.37))
}

/** Each session's prompt (3 + s rows), then `steps` single-row steps; all sessions step together. */
async function drive (e: LocalSpanExecutor, sessions: number, steps: number, together: boolean): Promise<Float32Array[][]> {
  const opened: SpanSession[] = []
  for (let s = 0; s < sessions; s++) opened.push(await e.open(`s${s}`, { maxLength: 64 }))
  const outs: Float32Array[][] = opened.map(() => [])
  const step = async (s: number, t: number): Promise<void> => {
    const session = opened[s]!
    const n = t === 0 ? 3 + s : 1
    outs[s]!.push(await session.forward(rows(s, t, n), Array.from({ length: n }, (_, i) => session.length + i)))
  }
  for (let t = 0; t <= steps; t++) {
    if (together) await Promise.all(opened.map(async (_, s) => { await step(s, t) }))
    else for (let s = 0; s < sessions; s++) await step(s, t)
  }
  await Promise.all(opened.map(async s => { await s.close() }))
  return outs
}

test('steps of concurrent sessions run as one forward, bit-identical to each alone on a backend deterministic per row (ref)', async () => {
  const e = await executor(new RefBackend())
  const alone = await drive(e, 8, 4, false)
  assert.equal(e.batcher.forwards, 8 * 5, 'one forward per step when the sessions take turns')
  const forwards = e.batcher.forwards
  const batched = await drive(e, 8, 4, true)
  // the prompts (3..10 rows, 52 in all) fit one chunk of 64, and every decode round is one forward
  assert.equal(e.batcher.forwards - forwards, 5)
  assert.deepEqual(batched, alone)
  await e.close()
})

test('on wasm, batched steps agree with each alone within the conformance tolerance', async () => {
  const backend = await createWasmBackend({ threads: 1 })
  const e = await executor(backend)
  const alone = await drive(e, 6, 3, false)
  const batched = await drive(e, 6, 3, true)
  let worst = 0
  batched.forEach((steps, s) => steps.forEach((out, t) => out.forEach((v, i) => {
    const ref = alone[s]![t]![i]!
    worst = Math.max(worst, Math.abs(v - ref) / (1 + Math.abs(ref)))
  })))
  assert.ok(worst < 1e-4, `worst relative difference ${worst}`)
  await e.close()
  backend.dispose()
})

test('a lone session never waits; another active session is waited for at most waitMs', async () => {
  const e = await executor(new RefBackend(), { batch: { waitMs: 300 } })
  const a = await e.open('a', { maxLength: 16 })
  const costs: StepCost[] = []
  const onCost = (c: StepCost): void => { costs.push(c) }
  await a.forward(rows(0, 0), [0], { onCost })
  assert.ok(costs[0]!.waitMs < 100, `a lone session waited ${costs[0]!.waitMs} ms`)
  const b = await e.open('b', { maxLength: 16 })
  await b.forward(rows(1, 0), [0])
  // both are active now: a's step waits for b's, which comes 20 ms later, and they share a forward
  const first = a.forward(rows(0, 1), [1], { onCost })
  await new Promise(resolve => setTimeout(resolve, 20))
  await Promise.all([first, b.forward(rows(1, 1), [1])])
  assert.equal(costs[1]!.batchSteps, 2)
  assert.ok(costs[1]!.waitMs >= 15 && costs[1]!.waitMs < 250, `waited ${costs[1]!.waitMs} ms`)
  // b stays silent: a waits for it no longer than waitMs, then runs alone
  const t0 = performance.now()
  await a.forward(rows(0, 2), [2], { onCost })
  const waited = performance.now() - t0
  assert.equal(costs[2]!.batchSteps, 1)
  assert.ok(waited >= 250 && waited < 1500, `waited ${waited} ms`)
  await a.close()
  await b.close()
  await e.close()
})

test('a step longer than the batch runs alone in chunks; costs split a forward by rows', async () => {
  const e = await executor(new RefBackend(), { maxChunk: 8 })
  const [a, b, c] = [await e.open('a', { maxLength: 32 }), await e.open('b', { maxLength: 32 }), await e.open('c', { maxLength: 32 })]
  const costs = new Map<string, StepCost>()
  const long = rows(0, 0, 20) // 20 rows > 8: chunked, alone
  const [outA] = await Promise.all([
    a.forward(long, Array.from({ length: 20 }, (_, i) => i), { onCost: cost => { costs.set('a', cost) } }),
    b.forward(rows(1, 0, 3), [0, 1, 2], { onCost: cost => { costs.set('b', cost) } }),
    c.forward(rows(2, 0, 1), [0], { onCost: cost => { costs.set('c', cost) } })
  ])
  assert.equal(costs.get('a')!.batchSteps, 1)
  assert.equal(costs.get('a')!.batchRows, 20)
  assert.equal(costs.get('b')!.batchSteps, 2)
  assert.equal(costs.get('b')!.batchRows, 4)
  assert.ok(Math.abs(costs.get('b')!.ms - 3 * costs.get('c')!.ms) < 1e-9, 'b carried 3 of the forward\'s 4 rows')
  // the chunked step equals the same rows through a session of their own in one go on a wider chunk
  const wide = await executor(new RefBackend(), { maxChunk: 32 })
  const d = await wide.open('d', { maxLength: 32 })
  assert.deepEqual(outA, await d.forward(long, Array.from({ length: 20 }, (_, i) => i)))
  await wide.close()
  await e.close()
})

test('a session that closes or aborts while its step waits is refused; the others go on', async () => {
  const e = await executor(new RefBackend(), { batch: { waitMs: 200 } })
  const [a, b, c] = [await e.open('a', { maxLength: 8 }), await e.open('b', { maxLength: 8 }), await e.open('c', { maxLength: 8 })]
  await Promise.all([a.forward(rows(0, 0), [0]), b.forward(rows(1, 0), [0]), c.forward(rows(2, 0), [0])])
  // a and b step while c is awaited; a is aborted and b closed before the wait ends
  const controller = new AbortController()
  const pa = a.forward(rows(0, 1), [1], { signal: controller.signal })
  const pb = b.forward(rows(1, 1), [1])
  await new Promise(resolve => setTimeout(resolve, 10))
  controller.abort()
  await b.close()
  await assert.rejects(pa, { code: 'ABORTED' })
  await assert.rejects(pb, { code: 'SESSION_CLOSED' })
  assert.equal(a.length, 1)
  const out = await c.forward(rows(2, 1), [1])
  assert.ok(out.every(Number.isFinite))
  // a goes on from where it was
  assert.equal((await a.forward(rows(0, 1), [1])).length, DIM)
  await a.close()
  await c.close()
  await e.close()
})

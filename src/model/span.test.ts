import { test } from 'node:test'
import assert from 'node:assert/strict'
import { fileURLToPath } from 'node:url'
import { RefBackend } from '../kernels/index.ts'
import { LocalSpanExecutor } from './span.ts'
import { openModel } from './open.ts'

const MODEL = fileURLToPath(new URL('../../models/stories260K/stories260K.gguf', import.meta.url))

async function executor (cacheBudgetBytes?: number): Promise<LocalSpanExecutor> {
  const source = await openModel(MODEL)
  return await LocalSpanExecutor.load(source, new RefBackend(), { start: 1, end: 3, cacheBudgetBytes })
}

test('a span executor loads only its layers and knows the model id', async () => {
  const e = await executor()
  assert.equal(e.start, 1)
  assert.equal(e.end, 3)
  assert.match(e.modelId, /^[0-9a-f]{64}$/)
  // 2 layers × (4 kv heads × 8) × 2 (k and v) × 4 bytes
  assert.equal(e.bytesPerToken, 2 * 32 * 2 * 4)
  await e.close()
})

test('sessions validate shapes, positions and lengths with typed errors', async () => {
  const e = await executor()
  const s = await e.open('a', { maxLength: 4 })
  const dim = 64
  await assert.rejects(s.forward(new Float32Array(dim + 1), [0]), { code: 'SHAPE_MISMATCH' })
  await assert.rejects(s.forward(new Float32Array(0), []), { code: 'SHAPE_MISMATCH' })
  await assert.rejects(s.forward(new Float32Array(dim), [1]), { code: 'BAD_POSITIONS' })
  const out = await s.forward(new Float32Array(2 * dim).fill(0.1), [0, 1])
  assert.equal(out.length, 2 * dim)
  assert.ok(out.every(Number.isFinite))
  assert.equal(s.length, 2)
  await assert.rejects(s.forward(new Float32Array(3 * dim), [2, 3, 4]), { code: 'CONTEXT_OVERFLOW' })
  await assert.rejects(s.rollback(3), { code: 'BAD_POSITIONS' })
  await s.rollback(1)
  assert.equal(s.length, 1)
  await assert.rejects(e.open('a', { maxLength: 4 }), { code: 'SESSION_EXISTS' })
  await s.close()
  await assert.rejects(s.forward(new Float32Array(dim), [1]), { code: 'SESSION_CLOSED' })
  await s.close() // closing twice is harmless
  await assert.rejects(e.open('b', { maxLength: 513 }), { code: 'CONTEXT_OVERFLOW' })
  await assert.rejects(e.open('b', { maxLength: 0 }), { code: 'INVALID_ARGUMENT' })
  await e.close()
})

test('the executor refuses a session that would exceed its cache budget, and frees on close', async () => {
  const e = await executor(512 * 100)
  assert.equal(e.freeCacheTokens, 100)
  const a = await e.open('a', { maxLength: 60 })
  assert.equal(e.freeCacheTokens, 40)
  await assert.rejects(e.open('b', { maxLength: 41 }), { code: 'CACHE_BUDGET_EXCEEDED', name: 'CacheBudgetError' })
  const b = await e.open('b', { maxLength: 40 })
  assert.equal(e.openSessions, 2)
  await a.close()
  await b.close()
  assert.equal(e.freeCacheTokens, 100)
  assert.equal(e.openSessions, 0)
  await e.close()
})

test('an aborted signal stops forward before any work', async () => {
  const e = await executor()
  const s = await e.open('a', { maxLength: 4 })
  const ac = new AbortController()
  ac.abort()
  await assert.rejects(s.forward(new Float32Array(64), [0], { signal: ac.signal }), { code: 'ABORTED' })
  assert.equal(s.length, 0)
  await e.close()
})

import assert from 'node:assert/strict'
import { it } from 'node:test'
import { createBackend } from '../../src/kernels/index.ts'
import { Model } from '../../src/model/index.ts'
import { STORIES_GGUF } from '../fixtures/stories.ts'
import { backendConformance } from './backend.case.ts'

const STORIES = STORIES_GGUF

backendConformance('wasm, 1 thread', async () => await createBackend('wasm', { threads: 1 }))
backendConformance('wasm, 3 threads', async () => await createBackend('wasm', { threads: 3 }))
backendConformance('wasm, relaxed SIMD where available, 2 threads', async () => await createBackend('wasm', { threads: 2, relaxedSimd: true }))

it('computes the same model id as ref while streaming weights into wasm memory', async () => {
  const ids: string[] = []
  for (const backend of ['ref', 'wasm'] as const) {
    const model = await Model.load(STORIES, { backend, threads: 1 })
    ids.push(model.modelId)
    await model.close()
  }
  assert.equal(ids[1], ids[0])
})

/**
 * Cheating servers against verification (stories260K, in-process servers; the cheats are test-only
 * wrappers of real servers, test/verify/kinds.ts). Each kind of cheat is convicted by a fraud proof
 * that this client checked; the proof is published and convicts the cheater for a second client
 * too; and every answer after the first failed audit equals an honest swarm's.
 */
import { after, afterEach, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { join } from 'node:path'
import { Model } from '../../src/model/index.ts'
import { quantizeModel } from '../../src/cli/quantize.ts'
import { ServedSpan } from '../../src/swarm/host.ts'
import { createBackend } from '../../src/kernels/index.ts'
import { openModel } from '../../src/model/index.ts'
import { cheat } from '../swarm/cheaters.ts'
import { STORIES, greedyIds, tempDir } from '../swarm/harness.ts'
import { kinds } from './kinds.ts'
import { ALWAYS, TestSwarm } from './swarm.ts'

const PROMPT = 'Once upon a time'
const TOKENS = 24

describe('cheaters are convicted, and answers stay right', () => {
  let swarm: TestSwarm
  let reference: number[]
  const dir = tempDir()

  before(async () => {
    swarm = await TestSwarm.start()
    const local = await Model.load(STORIES)
    reference = await greedyIds(local, PROMPT, TOKENS)
    await local.close()
  })

  afterEach(async () => { await swarm.dropSuspects() })

  after(async () => {
    await swarm?.stop()
    dir.remove()
  })

  /** Runs requests until the suspect is convicted (at most `max`); checks every answer from the first failed audit on. */
  async function untilConvicted (suspect: string, max = 6): Promise<number> {
    const { model, verifier } = await swarm.client('sample', ALWAYS)
    try {
      for (let request = 1; request <= max; request++) {
        const failedBefore = verifier.counts.fail
        const ids = await greedyIds(model, PROMPT, TOKENS)
        await verifier.idle()
        if (failedBefore > 0) assert.deepEqual(ids, reference, `request ${request}, after the first failed audit`)
        if (verifier.book.isConvicted(suspect)) {
          assert.deepEqual(await greedyIds(model, PROMPT, TOKENS), reference, 'the next answer')
          return request
        }
      }
      return Infinity
    } finally {
      await model.close()
    }
  }

  const cases: Array<[string, () => ReturnType<typeof kinds.zeros>]> = [
    ['random output', () => kinds.random()],
    ['zeros', () => kinds.zeros()],
    ['its input returned unchanged', () => kinds.echo()],
    ['a layer skipped', () => kinds.skipLayer()],
    ['noise of relative size 1e-2', () => kinds.noise(1e-2)],
    ['noise of relative size 1e-4', () => kinds.noise(1e-4)],
    ['noise on a tenth of its steps', () => kinds.sometimes(0.1, 1e-2, 7)],
    ['honest for 30 steps, then noise', () => kinds.later(30, 1e-2)]
  ]
  for (const [name, make] of cases) {
    test(`${name}: convicted`, async () => {
      const s = await swarm.suspect(make())
      const requests = await untilConvicted(s.node.peerId, 8)
      assert.ok(requests < Infinity, 'convicted within 8 requests')
    })
  }

  test('weights of another quantization behind the model\'s id: convicted', async () => {
    const q4 = join(dir.path, 'stories-q4_0.gguf')
    await quantizeModel(STORIES, q4, 'q4_0')
    const s = await swarm.suspect()
    // the same server, now computing with Q4_0 weights under the F32 model's id
    const source = await openModel(q4)
    const impostor = await ServedSpan.load(source, await createBackend('auto', { threads: 1 }), { start: 2, end: 5, modelId: s.modelId })
    cheat(s, async ({ hidden, positions, sessionId, maxLength }) => {
      const session = await impostorSession(impostor, sessionId, maxLength)
      return await session.forward(hidden, positions)
    })
    assert.ok(await untilConvicted(s.node.peerId) < Infinity)
  })

  test('an honest server is never convicted, and its audits pass', async () => {
    const s = await swarm.suspect()
    const { model, verifier } = await swarm.client('sample', ALWAYS, 3)
    try {
      for (let i = 0; i < 4; i++) assert.deepEqual(await greedyIds(model, PROMPT, TOKENS), reference)
      await verifier.idle()
      assert.equal(verifier.counts.fail + verifier.counts['bad-receipt'] + verifier.counts.inconclusive, 0, JSON.stringify(verifier.counts))
      const standing = verifier.book.get(s.node.peerId)
      assert.ok(standing.passed >= 1 && standing.failed === 0, JSON.stringify(standing))
      assert.equal(verifier.book.isConvicted(s.node.peerId), false)
    } finally {
      await model.close()
    }
  })

  test('strict mode: even the first answer through a cheater is right', async () => {
    const s = await swarm.suspect(kinds.zeros())
    const { model, verifier } = await swarm.client('strict', ALWAYS)
    try {
      assert.deepEqual(await greedyIds(model, PROMPT, TOKENS), reference)
      await verifier.idle()
      assert.ok(verifier.book.isConvicted(s.node.peerId))
    } finally {
      await model.close()
    }
  })
})

const impostorSessions = new Map<string, Promise<import('../../src/model/index.ts').SpanSession>>()
async function impostorSession (host: ServedSpan, id: string, maxLength: number): Promise<import('../../src/model/index.ts').SpanSession> {
  let s = impostorSessions.get(id)
  if (s === undefined) { s = host.open(`${id}-q4`, 2, 5, maxLength); impostorSessions.set(id, s) }
  return await s
}

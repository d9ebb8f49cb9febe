/**
 * Verification of speculative sessions (stories260K, in-process servers): steps of several rows
 * that are rolled back after rejected drafts are audited whole, replayed with their rollbacks and,
 * when wrong, proven so by proofs that roll back too. An honest server passes; a server that turns
 * to cheating only after rollbacks are in its history is convicted; strict mode keeps every answer
 * right. Audits that stopped at the first rollback would pass the cheater.
 */
import { after, afterEach, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { Model, type SpeculationReport } from '../../src/model/index.ts'
import { referenceDrafter } from '../fixtures/drafters.ts'
import { STORIES } from '../swarm/harness.ts'
import { addNoise, kinds } from './kinds.ts'
import { ALWAYS, TestSwarm } from './swarm.ts'

const TOKENS = 40

describe('verification of speculative sessions', () => {
  let swarm: TestSwarm
  let reference: number[]
  let vocab: number

  before(async () => {
    swarm = await TestSwarm.start()
    const local = await Model.load(STORIES)
    vocab = local.config.vocabSize
    reference = []
    for await (const t of local.generate([1], { temperature: 0, maxTokens: TOKENS })) reference.push(t.id)
    await local.close()
  })

  afterEach(async () => { await swarm.dropSuspects() })
  after(async () => { await swarm?.stop() })

  /** A greedy speculative run whose drafts are wrong every third token (a rollback most steps). */
  async function run (model: Model): Promise<{ ids: number[], report: SpeculationReport }> {
    const ids: number[] = []
    const gen = model.generate([1], { temperature: 0, maxTokens: TOKENS, speculate: { k: 4, drafter: referenceDrafter(reference, 1, vocab, 3) } })
    for await (const t of gen) ids.push(t.id)
    return { ids, report: gen.speculation! }
  }

  test('an honest server passes audits of steps that were rolled back', async () => {
    const s = await swarm.suspect()
    const { model, verifier } = await swarm.client('sample', ALWAYS, 3)
    try {
      for (let i = 0; i < 3; i++) {
        const { ids, report } = await run(model)
        assert.deepEqual(ids, reference)
        assert.ok(report.accepted < report.drafted && report.accepted > 0, JSON.stringify(report))
      }
      await verifier.idle()
      assert.equal(verifier.counts.fail + verifier.counts['bad-receipt'] + verifier.counts.inconclusive, 0, JSON.stringify(verifier.counts))
      assert.ok(verifier.book.get(s.node.peerId).passed >= 1)
    } finally {
      await model.close()
    }
  })

  test('a server noisy only past the first rollbacks of a session: convicted, answers right', async () => {
    // drafts are wrong every third token: by position 10 each session has rolled back
    const s = await swarm.suspect(async ({ honest, positions, host }) => {
      const out = await honest()
      return positions[0]! >= 10 ? addNoise(out, host.dim, 1e-2) : out
    })
    const { model, verifier } = await swarm.client('sample', ALWAYS, 5)
    try {
      let convicted = false
      for (let request = 0; request < 6 && !convicted; request++) {
        const failed = verifier.counts.fail
        const { ids } = await run(model)
        await verifier.idle()
        if (failed > 0) assert.deepEqual(ids, reference, 'after the first failed audit')
        convicted = verifier.book.isConvicted(s.node.peerId)
      }
      assert.ok(convicted, JSON.stringify(verifier.counts))
      assert.deepEqual((await run(model)).ids, reference)
    } finally {
      await model.close()
    }
  })

  test('strict mode: the first speculative answer through a cheater is right', async () => {
    const s = await swarm.suspect(kinds.later(3, 1e-2))
    const { model, verifier } = await swarm.client('strict', ALWAYS)
    try {
      assert.deepEqual((await run(model)).ids, reference)
      await verifier.idle()
      assert.ok(verifier.book.isConvicted(s.node.peerId), JSON.stringify(verifier.counts))
    } finally {
      await model.close()
    }
  })
})

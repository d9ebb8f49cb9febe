/**
 * Fraud proofs in the swarm: a proof one client published convicts the cheater for another client
 * that checks it; a false proof against an honest server convicts nobody and costs its accuser
 * standing; a cheater with an accomplice that vouches for it in audits is still convicted once an
 * honest server audits it.
 */
import { after, afterEach, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { randomUUID } from 'node:crypto'
import { NetNode, RemoteSpanSession, publishProof } from '../../src/net/index.ts'
import type { StepRecord } from '../../src/swarm/index.ts'
import { buildProof, signProof } from '../../src/verify/index.ts'
import { greedyIds } from '../swarm/harness.ts'
import { kinds } from './kinds.ts'
import { ALWAYS, TestSwarm } from './swarm.ts'

describe('fraud proofs in the swarm', () => {
  let swarm: TestSwarm

  before(async () => { swarm = await TestSwarm.start() })
  afterEach(async () => { await swarm.dropSuspects() })
  after(async () => { await swarm?.stop() })

  test('a published proof convicts the cheater for another client, which checks it first', async () => {
    const cheater = await swarm.suspect(kinds.noise(1e-2))
    const a = await swarm.client('sample', ALWAYS)
    try {
      for (let i = 0; i < 4 && !a.verifier.book.isConvicted(cheater.node.peerId); i++) { await greedyIds(a.model, 'Lily', 12); await a.verifier.idle() }
      assert.ok(a.verifier.book.isConvicted(cheater.node.peerId), 'the first client convicted it')
    } finally {
      await a.model.close()
    }
    const b = await swarm.client('sample', { rate: 0, probationRate: 0, probationAudits: 0 })
    try {
      assert.equal(b.verifier.book.isConvicted(cheater.node.peerId), false)
      await b.verifier.scanProofs()
      assert.ok(b.verifier.book.isConvicted(cheater.node.peerId), 'the second client found the proof and it held')
      await greedyIds(b.model, 'Lily', 12)
      assert.ok(!b.routes.some(r => r.hops.some(h => h.peer === cheater.node.peerId)), 'and never routes through it')
    } finally {
      await b.model.close()
    }
  })

  test('a false proof against an honest server convicts nobody; its accuser loses standing', async () => {
    const honest = swarm.honest[2]! // a 2:5 server
    const accuser = await NetNode.create({ bootstrap: swarm.bootstrap })
    const probe = await swarm.client('off', ALWAYS)
    try {
      // real steps at the honest server, with its real signed commitments
      const dim = probe.model.config.dim
      const records: StepRecord[] = []
      const session = randomUUID()
      const remote = await RemoteSpanSession.open(accuser, { id: honest.node.peerId, addrs: honest.addresses.map(a => a.slice(0, a.lastIndexOf('/p2p/'))) },
        { session, model: probe.model.modelId, start: 2, end: 5, maxLength: 16 }, dim, {
          onResult: (step, output, receipt) => { records.push({ step, from: step === 0 ? 0 : 3 + step - 1, input: inputs[step]!, output, receipt }) },
          onFailure: () => {}
        })
      const inputs = [Float32Array.from({ length: 3 * dim }, (_, i) => Math.sin(i)), Float32Array.from({ length: dim }, (_, i) => Math.cos(i))]
      await remote.step(0, 0, inputs[0]!, false)
      await remote.step(1, 3, inputs[1]!, false)
      for (let t = 0; t < 200 && records.length < 2; t++) await new Promise(resolve => setTimeout(resolve, 10))
      await remote.close()
      const proof = buildProof({ peer: honest.node.peerId, session, start: 2, end: 5 }, records, { model: probe.model.modelId, dtype: 'f32', dim, accuser: accuser.peerId })
      const signed = await signProof(proof, async bytes => await accuser.sign(bytes))
      const servers = swarm.honest.map(h => ({ id: h.node.peerId, addrs: h.addresses.map(a => a.slice(0, a.lastIndexOf('/p2p/'))) }))
      assert.ok(await publishProof(accuser, servers, honest.node.peerId, signed.bytes) > 0)
      await probe.verifier.scanProofs()
      assert.equal(probe.verifier.book.isConvicted(honest.node.peerId), false)
      assert.equal(probe.verifier.book.get(accuser.peerId).falseAccusations, 1)
    } finally {
      await probe.model.close()
      await accuser.stop()
    }
  })

  test('a cheater whose accomplice vouches for it is convicted once an honest server audits it', async () => {
    const cheater = await swarm.suspect(kinds.noise(1e-2))
    const accomplice = await swarm.suspect(kinds.noise(1e-2)) // the same noise for the same rows: they agree
    const { model, verifier } = await swarm.client('sample', ALWAYS, 11)
    try {
      for (let i = 0; i < 10 && !verifier.book.isConvicted(cheater.node.peerId); i++) { await greedyIds(model, 'Lily', 12); await verifier.idle() }
      assert.ok(verifier.book.isConvicted(cheater.node.peerId) || verifier.book.isConvicted(accomplice.node.peerId), JSON.stringify(verifier.counts))
      for (const h of swarm.honest) assert.equal(verifier.book.isConvicted(h.node.peerId), false, 'no honest server is convicted')
    } finally {
      await model.close()
    }
  })
})

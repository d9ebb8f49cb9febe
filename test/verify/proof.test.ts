/** Fraud proofs by themselves: what makes one valid, and every way a bad one is refused. */
import { after, before, test } from 'node:test'
import assert from 'node:assert/strict'
import { createBackend, type Backend } from '../../src/kernels/index.ts'
import { LocalSpanExecutor, loadWeights, openModel, type ModelSource } from '../../src/model/index.ts'
import { NetNode, claimBytes } from '../../src/net/index.ts'
import type { StepRecord } from '../../src/swarm/index.ts'
import { encodeFrame } from '../../src/tensor/index.ts'
import { sha256Hex, toHex } from '../../src/util/digest.ts'
import { Recomputer, buildProof, checkProof, openProof, signProof } from '../../src/verify/index.ts'
import { STORIES } from '../swarm/harness.ts'
import { addNoise } from './kinds.ts'

let source: ModelSource
let backend: Backend
let recomputer: Recomputer
let server: NetNode
let accuser: NetNode
let modelId: string
const dim = 64

before(async () => {
  source = await openModel(STORIES)
  backend = await createBackend('auto', { threads: 1 })
  modelId = (await loadWeights(source, backend, { start: 0, end: 0, hash: true })).modelId!
  recomputer = new Recomputer(source, backend, modelId)
  ;[server, accuser] = await Promise.all([NetNode.create(), NetNode.create()])
})

after(async () => {
  await recomputer.close()
  await Promise.all([server.stop(), accuser.stop()])
  backend.dispose()
})

/**
 * A server's records of a session over blocks 1:4, signed as a span server signs, the last output
 * through `cheat`. `steps`: each step's first position and rows (a position before the end of the
 * step before is a rollback there, as speculative decoding does after rejected drafts).
 */
async function records (cheat: (out: Float32Array) => Float32Array = x => x, steps: ReadonlyArray<readonly [number, number]> = [[0, 3], [3, 1], [4, 1]]): Promise<StepRecord[]> {
  const exec = await LocalSpanExecutor.load(source, backend, { start: 1, end: 4, modelId })
  const s = await exec.open('proof-test', { maxLength: 16 })
  const out: StepRecord[] = []
  for (let k = 0; k < steps.length; k++) {
    const [from, rows] = steps[k]!
    if (from < s.length) await s.rollback(from)
    const input = Float32Array.from({ length: rows * dim }, (_, i) => Math.sin(i * 0.3 + k))
    let output = await s.forward(input, Array.from({ length: rows }, (_, i) => from + i))
    if (k === steps.length - 1) output = cheat(output)
    const outFrame = encodeFrame(output, [rows, dim])
    const claim = { model: modelId, start: 1, end: 4, session: 'session-1', step: k, from, rows, input: sha256Hex(encodeFrame(input, [rows, dim])), output: sha256Hex(outFrame) }
    const sig = toHex(await server.sign(claimBytes(claim)))
    out.push({ step: k, from, input, output, receipt: { commitment: { input: claim.input, output: claim.output, sig }, outputDigest: claim.output } })
  }
  await exec.close()
  return out
}

const hop = (): { peer: string, session: string, start: number, end: number } => ({ peer: server.peerId, session: 'session-1', start: 1, end: 4 })
const meta = (): { model: string, dtype: 'f32', dim: number, accuser: string } => ({ model: modelId, dtype: 'f32', dim, accuser: accuser.peerId })

test('a proof of a wrong output is valid; of a right one, not', async () => {
  const bad = await signProof(buildProof(hop(), await records(x => addNoise(x, dim, 1e-3)), meta()), async b => await accuser.sign(b))
  const opened = await openProof(bad.bytes)
  assert.equal(opened.id, bad.id)
  const verdict = await checkProof(opened.proof, recomputer)
  assert.equal(verdict.valid, true, JSON.stringify(verdict))
  const good = await openProof((await signProof(buildProof(hop(), await records(), meta()), async b => await accuser.sign(b))).bytes)
  const honest = await checkProof(good.proof, recomputer)
  assert.equal(honest.valid, false)
  assert.match(!honest.valid ? honest.reason : '', /recomputation matches/)
})

test('proofs over steps that roll back (speculative decoding): a wrong output is proven, a right one not, a left-out step refused', async () => {
  // a prompt of 3, then steps of a token and its drafts, each cut back to what was kept
  const plan = [[0, 3], [3, 4], [5, 3], [6, 1], [7, 5]] as const
  const sign = async (b: Uint8Array): Promise<Uint8Array> => await accuser.sign(b)
  const bad = await openProof((await signProof(buildProof(hop(), await records(x => addNoise(x, dim, 1e-3), plan), meta()), sign)).bytes)
  const verdict = await checkProof(bad.proof, recomputer)
  assert.equal(verdict.valid, true, JSON.stringify(verdict))
  const honest = await records(x => x, plan)
  assert.match(await reason(buildProof(hop(), honest, meta())), /recomputation matches/)
  // leaving out the step that rewrote positions 5..7 would make an honest server look wrong
  assert.match(await reason(buildProof(hop(), [honest[0]!, honest[1]!, honest[3]!, honest[4]!], meta())), /does not follow step/)
  // a step may not start past the end of the one before
  const plain = await records()
  assert.match(await reason(buildProof(hop(), [plain[0]!, plain[2]!], meta())), /does not continue/)
})

test('tampered proofs are refused', async () => {
  const proof = buildProof(hop(), await records(x => addNoise(x, dim, 1e-2)), meta())
  const sign = async (b: Uint8Array): Promise<Uint8Array> => await accuser.sign(b)
  // bytes changed after signing: the accuser's signature breaks
  const bytes = (await signProof(proof, sign)).bytes.slice()
  bytes[100]! ^= 1
  await assert.rejects(openProof(bytes), /not a fraud proof/)
  // an input other than the one the suspect signed
  const input = proof.steps[0]!.input.slice()
  input[input.length - 1]! ^= 1
  const swapped = { ...proof, steps: [{ ...proof.steps[0]!, input }, ...proof.steps.slice(1)] }
  assert.match(await reason(swapped), /does not match its commitment/)
  // somebody else as the suspect: the signatures are not theirs
  assert.match(await reason({ ...proof, suspect: accuser.peerId }), /is not signed by/)
  // positions that do not run on from 0
  assert.match(await reason({ ...proof, steps: proof.steps.slice(1) }), /does not continue/)
  // another model
  assert.match(await reason({ ...proof, model: 'f'.repeat(32) }), /another model/)
})

async function reason (p: Parameters<typeof checkProof>[0]): Promise<string> {
  const v = await checkProof(p, recomputer)
  assert.equal(v.valid, false)
  return v.valid ? '' : v.reason
}

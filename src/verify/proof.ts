/**
 * Fraud proofs. A proof against a server is its own signed commitments for a session's steps up to
 * one whose output is wrong, the inputs those commitments name (as the exact frames it received),
 * and the output it returned for that step. Anyone holding the span's weights checks it: the
 * signatures are the server's, the digests match, and recomputing the steps gives an output farther
 * from the committed one than honest backends ever are. A proof whose recomputation matches convicts
 * nobody; its accuser (who signs the proof) loses standing instead.
 *
 *   envelope = u32 LE body length, body, accuser's signature over "gridllm-proof:" + SHA-256(body)
 *   body     = u32 LE header length, header (JSON), the input frames, then the output frame
 */
import { peerIdFromString } from '@libp2p/peer-id'
import { type StepClaim, type StepCommitment, parseCommitment, verifyClaim } from '../net/index.ts'
import type { StepRecord } from '../swarm/index.ts'
import { FRAME_DTYPES, type FrameDType, decodeFrame, encodeFrame } from '../tensor/index.ts'
import { BadRecordError } from '../util/errors.ts'
import { fromHex, sha256Hex, toHex } from '../util/digest.ts'
import type { Recomputer } from './recompute.ts'
import { distance, tolerance } from './tolerance.ts'

export interface ProofStep {
  readonly step: number
  readonly from: number
  readonly rows: number
  readonly commitment: StepCommitment
  /** the input frame, exactly as the suspect hashed it */
  readonly input: Uint8Array
}

export interface FraudProof {
  readonly model: string
  readonly start: number
  readonly end: number
  readonly dtype: FrameDType
  /** the accused server's peer id and its session id */
  readonly suspect: string
  readonly session: string
  readonly steps: readonly ProofStep[]
  /** the last step is the one whose output is wrong: this is that output frame */
  readonly output: Uint8Array
  readonly accuser: string
}

export interface SignedProof {
  readonly proof: FraudProof
  /** SHA-256 (hex) of the body: the proof's id */
  readonly id: string
  readonly bytes: Uint8Array
}

const DOMAIN = new TextEncoder().encode('gridllm-proof:')
const MAX_STEPS = 65_536

/** The claim a step of a proof stands for. */
function claimOf (p: FraudProof, s: ProofStep): StepClaim {
  return { model: p.model, start: p.start, end: p.end, session: p.session, step: s.step, from: s.from, rows: s.rows, input: s.commitment.input, output: s.commitment.output }
}

/**
 * A proof from a hop's records (its steps up to and including the wrong one). Throws if the
 * records do not carry what a proof needs: a commitment per step whose digests match.
 */
export function buildProof (hop: { peer: string, session: string, start: number, end: number }, records: readonly StepRecord[], meta: { model: string, dtype: FrameDType, dim: number, accuser: string }): FraudProof {
  const steps = records.map(r => {
    const c = r.receipt.commitment
    if (c === null) throw new BadRecordError(`step ${r.step} of ${hop.peer.slice(-8)} has no commitment`)
    const rows = r.input.length / meta.dim
    const input = encodeFrame(r.input, [rows, meta.dim], { dtype: meta.dtype })
    if (sha256Hex(input) !== c.input) throw new BadRecordError(`step ${r.step}: the input does not match ${hop.peer.slice(-8)}'s commitment`)
    return { step: r.step, from: r.from, rows, commitment: c, input }
  })
  const last = records[records.length - 1]!
  const output = encodeFrame(last.output, [last.output.length / meta.dim, meta.dim], { dtype: meta.dtype })
  if (sha256Hex(output) !== last.receipt.commitment!.output) throw new BadRecordError(`the output of step ${last.step} does not match ${hop.peer.slice(-8)}'s commitment`)
  return { model: meta.model, start: hop.start, end: hop.end, dtype: meta.dtype, suspect: hop.peer, session: hop.session, steps, output, accuser: meta.accuser }
}

/** Encodes and signs a proof with the accuser's key. */
export async function signProof (proof: FraudProof, sign: (bytes: Uint8Array) => Promise<Uint8Array>): Promise<SignedProof> {
  const header = new TextEncoder().encode(JSON.stringify({
    v: 1, model: proof.model, start: proof.start, end: proof.end, dtype: proof.dtype, suspect: proof.suspect, session: proof.session, accuser: proof.accuser,
    steps: proof.steps.map(s => ({ step: s.step, from: s.from, rows: s.rows, commitment: s.commitment, bytes: s.input.byteLength })),
    output: proof.output.byteLength
  }))
  const parts = [u32(header.byteLength), header, ...proof.steps.map(s => s.input), proof.output]
  const body = join(parts)
  const id = sha256Hex(body)
  const sig = await sign(join([DOMAIN, fromHex(id)]))
  return { proof, id, bytes: join([u32(body.byteLength), body, sig]) }
}

/** Parses a proof and checks the accuser's signature (not yet whether it convicts anyone: see checkProof). */
export async function openProof (bytes: Uint8Array): Promise<SignedProof> {
  const fail = (why: string): never => { throw new BadRecordError(`not a fraud proof: ${why}`) }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  if (bytes.byteLength < 8) fail('too short')
  const bodyLength = view.getUint32(0, true)
  if (4 + bodyLength + 64 !== bytes.byteLength) fail('bad length')
  const body = bytes.subarray(4, 4 + bodyLength)
  const headerLength = new DataView(body.buffer, body.byteOffset, 4).getUint32(0, true)
  if (4 + headerLength > body.byteLength) fail('bad header length')
  let h: Record<string, any>
  try { h = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(body.subarray(4, 4 + headerLength))) } catch { return fail('header is not JSON') }
  if (h.v !== 1 || typeof h.model !== 'string' || typeof h.suspect !== 'string' || typeof h.accuser !== 'string' || typeof h.session !== 'string' ||
    !Number.isSafeInteger(h.start) || !Number.isSafeInteger(h.end) || !FRAME_DTYPES.includes(h.dtype) ||
    !Array.isArray(h.steps) || h.steps.length === 0 || h.steps.length > MAX_STEPS || !Number.isSafeInteger(h.output)) fail('bad header')
  let at = 4 + headerLength
  const take = (n: unknown): Uint8Array => {
    if (!Number.isSafeInteger(n) || (n as number) < 0 || at + (n as number) > body.byteLength) fail('frames out of bounds')
    const out = body.subarray(at, at + (n as number))
    at += n as number
    return out
  }
  const steps: ProofStep[] = h.steps.map((s: Record<string, unknown>) => {
    if (!Number.isSafeInteger(s.step) || !Number.isSafeInteger(s.from) || !Number.isSafeInteger(s.rows)) fail('bad step')
    const commitment = parseCommitment(s.commitment)
    if (commitment === null) fail('a step without commitment')
    return { step: s.step as number, from: s.from as number, rows: s.rows as number, commitment: commitment!, input: take(s.bytes) }
  })
  const output = take(h.output)
  if (at !== body.byteLength) fail('trailing bytes')
  const id = sha256Hex(body)
  const accuserKey = (() => { try { return peerIdFromString(h.accuser).publicKey } catch { return undefined } })()
  if (accuserKey === undefined || !await accuserKey.verify(join([DOMAIN, fromHex(id)]), bytes.subarray(4 + bodyLength))) fail('not signed by its accuser')
  const proof: FraudProof = { model: h.model, start: h.start, end: h.end, dtype: h.dtype, suspect: h.suspect, session: h.session, steps, output, accuser: h.accuser }
  return { proof, id, bytes }
}

export type Verdict =
  | { readonly valid: true, readonly distance: number, readonly tolerance: number }
  | { readonly valid: false, readonly reason: string, readonly distance?: number }

/**
 * Checks a proof by recomputation: the suspect's signatures and digests, positions that run on
 * from 0 (rolling back where a step starts before the end of the one before), then the span
 * recomputed over the inputs. Valid means the suspect is convicted.
 */
export async function checkProof (p: FraudProof, recomputer: Recomputer, options: { signal?: AbortSignal } = {}): Promise<Verdict> {
  if (p.model !== recomputer.modelId) return { valid: false, reason: 'a proof about another model' }
  const dim = recomputer.source.config.dim
  // positions from 0, each step at or before the end of the one before (before it: the server
  // rolled back there), step ids without gaps: so no step of the session that shaped the cache the
  // recomputation builds can be left out (servers never reuse a step id)
  let next = 0
  for (const [i, s] of p.steps.entries()) {
    if (i === 0 ? s.from !== 0 : s.from > next) return { valid: false, reason: `step ${s.step} does not continue the positions` }
    if (i > 0 && s.step !== p.steps[i - 1]!.step + 1) return { valid: false, reason: `step ${s.step} does not follow step ${p.steps[i - 1]!.step}` }
    next = s.from + s.rows
    if (sha256Hex(s.input) !== s.commitment.input) return { valid: false, reason: `the input of step ${s.step} does not match its commitment` }
    if (!await verifyClaim(p.suspect, claimOf(p, s), s.commitment.sig)) return { valid: false, reason: `step ${s.step} is not signed by ${p.suspect.slice(-8)}` }
  }
  const target = p.steps[p.steps.length - 1]!
  if (sha256Hex(p.output) !== target.commitment.output) return { valid: false, reason: 'the output does not match its commitment' }
  let inputs: Float32Array[]
  let claimed: Float32Array
  try {
    inputs = p.steps.map(s => decodeFrame(s.input).data)
    claimed = decodeFrame(p.output).data
  } catch (err) {
    return { valid: false, reason: `undecodable frames: ${(err as Error).message}` }
  }
  if (inputs.some((x, i) => x.length !== p.steps[i]!.rows * dim) || claimed.length !== target.rows * dim) return { valid: false, reason: 'frames of the wrong shape' }
  const outs = await recomputer.run(p.start, p.end, p.steps.map((s, i) => ({ from: s.from, input: inputs[i]! })), p.dtype, options)
  const tol = tolerance({ dtype: p.dtype, quantized: recomputer.quantized(p.start, p.end) })
  const d = distance(claimed, outs[outs.length - 1]!, dim)
  return d > tol ? { valid: true, distance: d, tolerance: tol } : { valid: false, reason: `recomputation matches the commitment (distance ${d.toExponential(2)} <= ${tol})`, distance: d }
}

function u32 (n: number): Uint8Array {
  const b = new Uint8Array(4)
  new DataView(b.buffer).setUint32(0, n, true)
  return b
}

function join (parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.byteLength, 0))
  let at = 0
  for (const p of parts) { out.set(p, at); at += p.byteLength }
  return out
}


/**
 * Deciding an audit. The audited hop's records (its inputs, outputs and signed receipts) are replayed
 * on an auditor; outputs within the tolerance pass. A mismatch goes to an arbiter (a third server,
 * or this peer's own recomputation when no third server is at hand): the one that disagrees with the
 * two others is the suspect. A suspect is convicted only by a fraud proof made of its own signed
 * commitments that this peer checked by recomputing the span itself; a proof that does not hold up
 * convicts nobody, and the other side is tried instead (an auditor can lie too).
 */
import type { HopPayer, NetNode, PeerAddress, SignedClaim, WorkEvidence } from '../net/index.ts'
import { verifyClaim } from '../net/index.ts'
import type { HopView, StepRecord } from '../swarm/index.ts'
import { encodeFrame } from '../tensor/index.ts'
import { sha256Hex } from '../util/digest.ts'
import { type FraudProof, type SignedProof, buildProof, checkProof, signProof } from './proof.ts'
import type { Recomputer } from './recompute.ts'
import { type ReplayJob, concat, contiguous, replayOn } from './replay.ts'
import { rowDistances } from './tolerance.ts'

/** A server's session: one an audit replayed a hop's inputs in (at the auditor, and at the arbiter if there was one), or the audited hop. */
export interface ReplayRef {
  readonly peer: string
  readonly session: string
}

export type AuditOutcome = Verdict & { readonly replays?: readonly ReplayRef[] }

type Verdict =
  /** `evidence`: the signed claims a consumer attests for the audited server to mint (when both sides signed them) */
  | { readonly result: 'pass', readonly distance: number, readonly evidence?: WorkEvidence }
  /** the audited server is convicted: `proof` checked here */
  | { readonly result: 'fail', readonly suspect: string, readonly distance: number, readonly proof: SignedProof }
  /** its receipts do not hold (missing, or signatures and digests that do not match): no proof possible */
  | { readonly result: 'bad-receipt', readonly suspect: string, readonly why: string }
  | { readonly result: 'inconclusive', readonly distance: number, readonly why: string }
  | { readonly result: 'skipped', readonly why: string }

export interface AuditContext {
  readonly node: NetNode
  readonly job: ReplayJob
  readonly tolerance: number
  readonly recomputer: Recomputer | undefined
  /** the servers that may audit the hop (never its own), in the order to try */
  readonly candidates: readonly PeerAddress[]
  readonly chunk: number
  readonly signal?: AbortSignal
  /** pays the servers an audit runs on (audit sessions are ordinary sessions) */
  readonly payer?: HopPayer
}

/** Where two record lists over the same rows first differ by more than `tol` (row index), and their largest distance. */
export function compareRecords (a: readonly StepRecord[], b: readonly StepRecord[], dim: number, tol: number): { distance: number, firstBadRow: number } {
  const d = rowDistances(concat(a.map(r => r.output)), concat(b.map(r => r.output)), dim)
  let worst = 0
  let first = -1
  d.forEach((x, i) => {
    if (!(x <= worst)) worst = x
    if (first < 0 && !(x <= tol)) first = i
  })
  if (concat(a.map(r => r.output)).length !== concat(b.map(r => r.output)).length) return { distance: Infinity, firstBadRow: 0 }
  return { distance: worst, firstBadRow: first }
}

/** The index of the record holding row `row`. */
export function recordAt (records: readonly StepRecord[], row: number, dim: number): number {
  let end = 0
  for (let i = 0; i < records.length; i++) {
    end += records[i]!.input.length / dim
    if (row < end) return i
  }
  return records.length - 1
}

/** Why a hop's receipts cannot back a proof, or undefined if they all hold. */
export async function receiptProblem (hop: HopView, records: readonly StepRecord[], job: ReplayJob): Promise<string | undefined> {
  for (const r of records) {
    const c = r.receipt.commitment
    if (c === null) return `step ${r.step} came without a commitment`
    if (c.output !== r.receipt.outputDigest) return `step ${r.step}: the signed output digest is not that of the output sent`
    const rows = r.input.length / job.dim
    const input = sha256Hex(encodeFrame(r.input, [rows, job.dim], { dtype: job.dtype }))
    if (c.input !== input) return `step ${r.step}: the signed input digest is not that of the input sent`
    const claim = claimOf(r, hop.session, hop, job)!
    if (!await verifyClaim(hop.peer, claim, claim.sig)) return `step ${r.step}: the commitment's signature does not hold`
  }
  return undefined
}

/** Audits `hop` over `records` (a contiguous prefix of its history). */
export async function audit (hop: HopView, allRecords: readonly StepRecord[], ctx: AuditContext): Promise<AuditOutcome> {
  const replays: ReplayRef[] = []
  const verdict = await decide(hop, allRecords, ctx, replays)
  return replays.length === 0 ? verdict : { ...verdict, replays }
}

async function decide (hop: HopView, allRecords: readonly StepRecord[], ctx: AuditContext, replays: ReplayRef[]): Promise<Verdict> {
  const { job, tolerance: tol } = ctx
  const records = contiguous(allRecords, job.dim)
  if (records.length === 0) return { result: 'skipped', why: 'nothing to audit' }
  const problem = await receiptProblem(hop, records, job)
  if (problem !== undefined) return { result: 'bad-receipt', suspect: hop.peer, why: problem }
  const [auditor, ...rest] = ctx.candidates
  if (auditor === undefined) return { result: 'skipped', why: 'no other server serves these blocks' }
  const theirs = await replayOn(ctx.node, auditor, job, records, { chunk: ctx.chunk, signal: ctx.signal, payer: ctx.payer })
  replays.push({ peer: auditor.id, session: theirs.session })
  const first = compareRecords(records, theirs.records, job.dim, tol)
  if (first.firstBadRow < 0) return { result: 'pass', distance: first.distance, evidence: evidenceOf(hop, records, { peer: auditor.id, session: theirs.session }, theirs.records, job) }

  // a mismatch: the arbiter's outputs decide who is suspected
  let third: StepRecord[] | undefined
  const arbiter = rest[0]
  if (arbiter !== undefined) {
    const arbitration = await replayOn(ctx.node, arbiter, job, records, { chunk: ctx.chunk, signal: ctx.signal, payer: ctx.payer }).catch(() => undefined)
    if (arbitration !== undefined) replays.push({ peer: arbiter.id, session: arbitration.session })
    third = arbitration?.records
  }
  if (third === undefined && ctx.recomputer !== undefined) {
    const outs = await ctx.recomputer.run(job.start, job.end, records.map(r => ({ from: r.from, input: r.input })), job.dtype, { signal: ctx.signal })
    third = records.map((r, i) => ({ ...r, output: outs[i]! }))
  }
  if (third === undefined) return { result: 'inconclusive', distance: first.distance, why: 'no arbiter' }
  const vsAudited = compareRecords(records, third, job.dim, tol).firstBadRow
  const vsAuditor = compareRecords(theirs.records, third, job.dim, tol).firstBadRow
  const audited: Side = { peer: hop.peer, session: hop.session, records, row: vsAudited >= 0 ? vsAudited : first.firstBadRow }
  const auditing: Side = { peer: auditor.id, session: theirs.session, records: theirs.records, row: vsAuditor >= 0 ? vsAuditor : first.firstBadRow }
  let sides: Side[]
  if (vsAudited >= 0 && vsAuditor < 0) sides = [audited, auditing]
  else if (vsAuditor >= 0 && vsAudited < 0) sides = [auditing, audited]
  else return { result: 'inconclusive', distance: first.distance, why: 'the arbiter agrees with neither or with both' }
  if (ctx.recomputer === undefined) return { result: 'inconclusive', distance: first.distance, why: 'no weights here to check a proof' }
  // the suspect first; if its proof does not hold up when recomputed here, the other side lied
  for (const side of sides) {
    const proof = await proveAgainst(side, hop, ctx)
    if (proof !== undefined) return { result: 'fail', suspect: side.peer, distance: first.distance, proof }
  }
  return { result: 'inconclusive', distance: first.distance, why: 'no proof held up when recomputed here' }
}

/** A step's signed claim, rebuilt from its record; undefined if it came without a commitment. */
function claimOf (r: StepRecord | undefined, session: string, hop: HopView, job: ReplayJob): SignedClaim | undefined {
  const c = r?.receipt.commitment
  if (r === undefined || c === null || c === undefined) return undefined
  return { model: job.modelId, start: hop.start, end: hop.end, session, step: r.step, from: r.from, rows: r.input.length / job.dim, input: c.input, output: c.output, sig: c.sig }
}

/** What a passed audit shows: the audited server's first and last claims, and the witness's claim over the same first input. */
function evidenceOf (hop: HopView, records: readonly StepRecord[], witness: ReplayRef, theirs: readonly StepRecord[], job: ReplayJob): WorkEvidence | undefined {
  const first = claimOf(records[0], hop.session, hop, job)
  const last = claimOf(records[records.length - 1], hop.session, hop, job)
  const witnessed = claimOf(theirs[0], witness.session, hop, job)
  return first === undefined || last === undefined || witnessed === undefined ? undefined : { witness: witness.peer, served: [first, last], witnessed }
}

interface Side {
  readonly peer: string
  readonly session: string
  readonly records: readonly StepRecord[]
  /** the first row its outputs are wrong at */
  readonly row: number
}

/** A proof against a side from its records up to the one holding its first wrong row, kept only if it checks out here. */
async function proveAgainst (side: Side, hop: HopView, ctx: AuditContext): Promise<SignedProof | undefined> {
  const upTo = side.records.slice(0, recordAt(side.records, side.row, ctx.job.dim) + 1)
  let proof: FraudProof
  try {
    proof = buildProof({ peer: side.peer, session: side.session, start: hop.start, end: hop.end }, upTo, { model: ctx.job.modelId, dtype: ctx.job.dtype, dim: ctx.job.dim, accuser: ctx.node.peerId })
  } catch {
    return undefined
  }
  const verdict = await checkProof(proof, ctx.recomputer!, { signal: ctx.signal })
  if (!verdict.valid) return undefined
  return await signProof(proof, async bytes => await ctx.node.sign(bytes))
}

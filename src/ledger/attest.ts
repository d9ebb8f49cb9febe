/**
 * Minting for audited work. A consumer that audited a hop and found it right signs an attestation:
 * the server it paid for that session did the work, and a second server (the witness, chosen by the
 * audit among servers not run by the audited one) computed the same span from the same input. The
 * server mints for it (a `mint` block carrying the attestation and the consumer's debit that paid
 * for the session), at most PROTOCOL.mintPerBlockToken per block-token checked, and at most
 * PROTOCOL.mintCapPerEpoch per account per epoch. Anyone can check a mint block with nothing but
 * the block: four signatures (the consumer's attestation, the server's and the witness's step
 * claims, the consumer's debit) and the digests that tie them together.
 *
 * What it bounds: a consumer and server of one owner cannot mint alone; they need a third identity
 * that served the span and signed a claim over the same input. Identities cost a proof of work,
 * and whatever a ring of them mints is capped per identity and epoch, and named in their chains.
 */
import { type SignedClaim, type Signer, type WorkEvidence, isPeerId, parseSignedClaim, verifyClaim, verifySignature } from '../net/index.ts'
import { fromHex, sha256Hex, toHex } from '../util/digest.ts'
import { PaymentError } from '../util/errors.ts'
import { type Block, parseBlock, verifyBlockSignature } from './block.ts'
import { commitmentId, parseReceipt, receiptHash, verifyCommitment } from './payword.ts'
import { PROTOCOL } from './policy.ts'

export type { WorkEvidence }

export interface Attestation extends WorkEvidence {
  readonly v: 1
  /** who audited and signs: the consumer that paid `server` for the session */
  readonly consumer: string
  readonly server: string
  /** the id of the payment commitment the consumer opened the session with */
  readonly commitment: string
  /** positions checked: the end of the last step checked */
  readonly tokens: number
  /** ms since the epoch, when signed */
  readonly at: number
  readonly sig: string
}

export type UnsignedAttestation = Omit<Attestation, 'v' | 'sig' | 'at'>

const SIG = /^[0-9a-f]{128}$/
const HEX64 = /^[0-9a-f]{64}$/

export function attestationBytes (a: Omit<Attestation, 'sig'>): Uint8Array {
  const claim = (c: SignedClaim): unknown[] => [c.model, c.start, c.end, c.session, c.step, c.from, c.rows, c.input, c.output, c.sig]
  return new TextEncoder().encode('gridllm-attest:' + JSON.stringify([a.v, a.consumer, a.server, a.witness, a.commitment, a.tokens, a.at,
    claim(a.served[0]), claim(a.served[1]), claim(a.witnessed)]))
}

/** An attestation's name (a mint block's `receipt`): one mint per attestation. */
export function attestationId (a: Attestation): string {
  return sha256Hex(attestationBytes(a))
}

export async function signAttestation (fields: UnsignedAttestation, signer: Signer, at = Date.now()): Promise<Attestation> {
  const a = { v: 1 as const, ...fields, at }
  if (a.consumer !== signer.peerId) throw new PaymentError('PAYMENT_INVALID', `cannot attest as ${a.consumer} with the key of ${signer.peerId}`)
  return { ...a, sig: toHex(await signer.sign(attestationBytes(a))) }
}

/** Checks an attestation's form (from the wire or a block); throws PAYMENT_INVALID. Not its signatures. */
export function parseAttestation (v: unknown): Attestation {
  const a = v as Record<string, unknown>
  const bad = (why: string): never => { throw new PaymentError('PAYMENT_INVALID', `not an attestation: ${why}`) }
  if (typeof a !== 'object' || a === null || a.v !== 1) bad('not an object of version 1')
  for (const k of ['consumer', 'server', 'witness'] as const) if (typeof a[k] !== 'string' || (a[k] as string).length > 100) bad(k)
  if (typeof a.commitment !== 'string' || !HEX64.test(a.commitment)) bad('commitment')
  if (!Number.isSafeInteger(a.tokens) || (a.tokens as number) < 1 || !Number.isSafeInteger(a.at)) bad('tokens and time must be integers')
  if (typeof a.sig !== 'string' || !SIG.test(a.sig)) bad('sig')
  if (!Array.isArray(a.served) || a.served.length !== 2) bad('served must be two claims')
  try {
    const served = a.served as unknown[]
    return { v: 1, consumer: a.consumer as string, server: a.server as string, witness: a.witness as string, commitment: a.commitment as string, tokens: a.tokens as number,
      at: a.at as number, served: [parseSignedClaim(served[0]), parseSignedClaim(served[1])], witnessed: parseSignedClaim(a.witnessed), sig: a.sig as string }
  } catch (err) {
    return bad((err as Error).message)
  }
}

/** Why an attestation does not hold on its own (signatures, and the claims agreeing with each other), or undefined. */
export async function attestationProblem (a: Attestation): Promise<string | undefined> {
  const [first, last] = a.served
  const w = a.witnessed
  if (![a.consumer, a.server, a.witness].every(isPeerId)) return 'the consumer, server and witness must be peer ids'
  if (new Set([a.consumer, a.server, a.witness]).size !== 3) return 'the consumer, the server and the witness must be three accounts'
  const span = (c: SignedClaim): string => `${c.model}/${c.start}/${c.end}`
  if (span(first) !== span(last) || span(first) !== span(w)) return 'the claims are not of one model and span'
  if (first.session !== last.session || w.session === first.session) return 'the server\'s claims must be of one session, the witness\'s of another'
  if (first.from !== 0 || w.from !== 0 || last.step < first.step) return 'the first claims must start at position 0'
  if (w.rows !== first.rows || w.input !== first.input) return 'the witness did not compute the same input'
  if (last.from + last.rows !== a.tokens) return `the last claim ends at ${last.from + last.rows}, not at ${a.tokens}`
  if (!await verifyClaim(a.server, first, first.sig) || !await verifyClaim(a.server, last, last.sig)) return 'the server\'s claims are not signed by the server'
  if (!await verifyClaim(a.witness, w, w.sig)) return 'the witness\'s claim is not signed by the witness'
  if (!await verifySignature(a.consumer, attestationBytes(a), fromHex(a.sig))) return 'the attestation is not signed by the consumer'
  return undefined
}

/** µcr an attestation is worth before the epoch's cap: per block-token checked. */
export function mintFor (a: Attestation): number {
  return PROTOCOL.mintPerBlockToken * a.tokens * (a.served[0].end - a.served[0].start)
}

export function epochOf (at: number): number {
  return Math.floor(at / PROTOCOL.epochMs)
}

/** What a mint block carries. */
export interface MintData {
  readonly attestation: Attestation
  /** the consumer's debit that paid the server for the attested session, at least up to its tokens */
  readonly debit: Block
}

/**
 * Why a mint block does not hold on its own, or undefined: its attestation, the consumer's debit
 * that paid for the session, and an amount within what they are worth. The cap per epoch and one
 * mint per attestation are properties of the chain (audit.ts).
 */
export async function mintProblem (b: Block): Promise<string | undefined> {
  let d: MintData
  try {
    const raw = b.data as { attestation?: unknown, debit?: unknown } | null
    d = { attestation: parseAttestation(raw?.attestation), debit: parseBlock(raw?.debit) }
  } catch (err) {
    return (err as Error).message
  }
  const a = d.attestation
  if (a.server !== b.account || a.consumer !== b.counterparty) return 'the attestation is not of this account\'s work for its counterparty'
  if (b.receipt !== attestationId(a)) return 'names another attestation'
  if (!(b.amount > 0) || b.amount > mintFor(a)) return `mints ${b.amount} µcr; the attestation is worth ${mintFor(a)}`
  if (a.at > b.at || epochOf(a.at) !== epochOf(b.at)) return 'the attestation is not of the block\'s epoch'
  const problem = await attestationProblem(a)
  if (problem !== undefined) return problem
  const debit = d.debit
  if (debit.kind !== 'debit' || debit.account !== a.consumer || debit.counterparty !== b.account) return 'the debit is not the consumer paying this account'
  let r
  try { r = parseReceipt(debit.data) } catch (err) { return (err as Error).message }
  const c = r.commitment
  if (debit.receipt !== receiptHash(r) || commitmentId(c) !== a.commitment) return 'the debit pays for another commitment'
  if (c.session !== a.served[0].session || c.model !== a.served[0].model || c.start !== a.served[0].start || c.end !== a.served[0].end) return 'the debit pays for another session'
  if (r.to < a.tokens) return `the debit pays for ${r.to} tokens; ${a.tokens} are attested`
  if (!await verifyBlockSignature(debit) || !await verifyCommitment(c)) return 'the debit is not signed by the consumer'
  return undefined
}

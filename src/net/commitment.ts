/**
 * Signed step commitments. With every `result` a server signs, with its libp2p key, what it claims
 * to have computed: the model, the span, the session and step, the positions, and the SHA-256 of the
 * input frame it received and of the output frame it returned. A client keeps these; an audit that
 * finds the output wrong turns the server's own signatures (with the inputs they name) into a fraud
 * proof that anyone holding the span's weights can check by recomputation.
 *
 * Digests are over the encoded tensor frames (src/tensor/frame.ts), exactly the bytes on the wire,
 * so a client re-encoding its copy of an input in the session's dtype gets the same digest.
 */
import { peerIdFromString } from '@libp2p/peer-id'
import { ProtocolError } from '../util/errors.ts'
import { fromHex } from '../util/digest.ts'

/** What a server claims for one step. */
export interface StepClaim {
  readonly model: string
  readonly start: number
  readonly end: number
  readonly session: string
  readonly step: number
  /** the first position of the step's rows */
  readonly from: number
  readonly rows: number
  /** SHA-256 (hex) of the input frame */
  readonly input: string
  /** SHA-256 (hex) of the output frame */
  readonly output: string
}

/** As it travels in a `result` header: the digests and the signature (hex). */
export interface StepCommitment {
  readonly input: string
  readonly output: string
  readonly sig: string
}

const DOMAIN = 'gridllm-step:'
const HEX64 = /^[0-9a-f]{64}$/
const SIG = /^[0-9a-f]{128}$/

/** The bytes a server signs for a claim. */
export function claimBytes (c: StepClaim): Uint8Array {
  return new TextEncoder().encode(DOMAIN + JSON.stringify([c.model, c.start, c.end, c.session, c.step, c.from, c.rows, c.input, c.output]))
}

/** A claim with its signer's signature, as an audit's evidence carries it. */
export interface SignedClaim extends StepClaim {
  readonly sig: string
}

/** What a passed audit shows of a hop: a consumer attests it so that the server may mint for it (src/ledger/attest.ts). */
export interface WorkEvidence {
  /** the server the audit replayed the hop on */
  readonly witness: string
  /** the audited server's claims for its first step (position 0) and for the last step checked */
  readonly served: readonly [SignedClaim, SignedClaim]
  /** the witness's claim for its first step: the same input frame, the same rows */
  readonly witnessed: SignedClaim
}

/** Checks a signed claim's form (from the wire or a ledger block); throws BAD_MESSAGE. Not its signature. */
export function parseSignedClaim (v: unknown): SignedClaim {
  const c = v as Record<string, unknown>
  const int = (x: unknown): boolean => Number.isSafeInteger(x) && (x as number) >= 0
  if (typeof c !== 'object' || c === null || typeof c.model !== 'string' || c.model.length > 200 || typeof c.session !== 'string' || c.session.length > 200 ||
    !int(c.start) || !int(c.end) || !int(c.step) || !int(c.from) || !int(c.rows) || (c.rows as number) < 1 ||
    typeof c.input !== 'string' || !HEX64.test(c.input) || typeof c.output !== 'string' || !HEX64.test(c.output) || typeof c.sig !== 'string' || !SIG.test(c.sig)) {
    throw new ProtocolError('BAD_MESSAGE', 'not a signed step claim')
  }
  return { model: c.model, start: c.start as number, end: c.end as number, session: c.session, step: c.step as number, from: c.from as number, rows: c.rows as number, input: c.input, output: c.output, sig: c.sig }
}

/** Checks a `commitment` header field; null when absent. */
export function parseCommitment (v: unknown): StepCommitment | null {
  if (v === null || v === undefined) return null
  const c = v as Record<string, unknown>
  if (typeof c !== 'object' || typeof c.input !== 'string' || !HEX64.test(c.input) || typeof c.output !== 'string' || !HEX64.test(c.output) ||
    typeof c.sig !== 'string' || !SIG.test(c.sig)) {
    throw new ProtocolError('BAD_MESSAGE', '"commitment" must be {input, output, sig} in hex')
  }
  return { input: c.input, output: c.output, sig: c.sig }
}

/** Whether `sig` is `peer`'s signature over `claim`. */
export async function verifyClaim (peer: string, claim: StepClaim, sig: string): Promise<boolean> {
  try {
    const key = peerIdFromString(peer).publicKey
    if (key === undefined || !SIG.test(sig)) return false
    return await key.verify(claimBytes(claim), fromHex(sig))
  } catch {
    return false
  }
}

/**
 * PayWord (Rivest and Shamir, 1996) for span sessions. The consumer draws a random w_N, hashes it
 * down to the root w_0 = H^N(w_N) and signs a commitment to the root at open. Paying for the first
 * k tokens is revealing w_k: the server checks H(w_k) = w_(k-1) against the last preimage it has,
 * one hash per token, no signature. A receipt (commitment, from, to, w_to) proves that the consumer
 * owes to - from tokens at the committed price; settlement turns it into a pair of ledger blocks.
 */
import { type PaymentCommitment, type Signer, commitmentBytes, parsePaymentCommitment, verifySignature } from '../net/index.ts'
import { fromHex, sha256Hex, toHex } from '../util/digest.ts'
import { PaymentError } from '../util/errors.ts'
import { sha256 as h } from '../util/sha256.ts'

/** H applied `n` times to the hex preimage `w`. */
export function hashTimes (w: string, n: number): string {
  let x = fromHex(w)
  for (let i = 0; i < n; i++) x = h(x)
  return toHex(x)
}

/** The consumer's side of one hash chain: w_0 (the root) .. w_N. */
export class HashChain {
  /** w_i for every i, as hex (N + 1 of them: 33 bytes of memory each) */
  private readonly words: string[]

  constructor (readonly length: number, seed: Uint8Array = crypto.getRandomValues(new Uint8Array(32))) {
    const words = new Array<string>(length + 1)
    let x = seed
    words[length] = toHex(x)
    for (let i = length - 1; i >= 0; i--) { x = h(x); words[i] = toHex(x) }
    this.words = words
  }

  get root (): string {
    return this.words[0]!
  }

  /** w_k: pays for the first k tokens */
  preimage (k: number): string {
    if (!Number.isInteger(k) || k < 0 || k > this.length) throw new PaymentError('PAYMENT_INVALID', `token ${k} is beyond the ${this.length} this chain pays for`)
    return this.words[k]!
  }
}

export type CommitmentTerms = Omit<PaymentCommitment, 'sig' | 'v' | 'consumer'>

export async function signCommitment (terms: CommitmentTerms, signer: Signer): Promise<PaymentCommitment> {
  const unsigned = { v: 1 as const, ...terms, consumer: signer.peerId }
  return { ...unsigned, sig: toHex(await signer.sign(commitmentBytes(unsigned))) }
}

export async function verifyCommitment (c: PaymentCommitment): Promise<boolean> {
  return await verifySignature(c.consumer, commitmentBytes(c), fromHex(c.sig))
}

/** A commitment's name (what a receipt and the server's books refer to). */
export function commitmentId (c: PaymentCommitment): string {
  return sha256Hex(commitmentBytes(c))
}

/** Proof that the consumer owes `to - from` tokens of the session: the preimage after `to` tokens. */
export interface Receipt {
  readonly commitment: PaymentCommitment
  readonly from: number
  readonly to: number
  readonly preimage: string
}

export function receiptHash (r: Receipt): string {
  return sha256Hex(new TextEncoder().encode('gridllm-receipt:' + JSON.stringify([commitmentId(r.commitment), r.commitment.sig, r.from, r.to, r.preimage])))
}

/** µcr a receipt is worth. */
export function receiptAmount (r: Receipt): number {
  return (r.to - r.from) * r.commitment.price
}

export function parseReceipt (v: unknown): Receipt {
  const r = v as Record<string, unknown>
  const bad = (why: string): never => { throw new PaymentError('PAYMENT_INVALID', `not a receipt: ${why}`) }
  if (typeof r !== 'object' || r === null) bad('not an object')
  let commitment: PaymentCommitment | null = null
  try { commitment = parsePaymentCommitment(r.commitment) } catch (err) { bad((err as Error).message) }
  if (commitment === null) bad('no commitment')
  if (!Number.isSafeInteger(r.from) || !Number.isSafeInteger(r.to) || (r.from as number) < 0 || (r.to as number) <= (r.from as number) || (r.to as number) > commitment!.maxTokens) bad('from and to must satisfy 0 <= from < to <= maxTokens')
  if (typeof r.preimage !== 'string' || !/^[0-9a-f]{64}$/.test(r.preimage)) bad('preimage')
  return { commitment: commitment!, from: r.from as number, to: r.to as number, preimage: r.preimage as string }
}

/**
 * Why a receipt does not hold, or undefined if it does: the consumer's signature, and the preimage
 * hashing to the root after `to` steps (or to `known`, the preimage after `knownTokens` tokens,
 * which saves hashing from the root).
 */
export async function receiptProblem (r: Receipt, known?: { tokens: number, preimage: string }): Promise<string | undefined> {
  if (!await verifyCommitment(r.commitment)) return 'the commitment is not signed by its consumer'
  const base = known !== undefined && known.tokens <= r.to ? known : { tokens: 0, preimage: r.commitment.root }
  if (hashTimes(r.preimage, r.to - base.tokens) !== base.preimage) return `the preimage does not pay for ${r.to} tokens of this commitment`
  return undefined
}

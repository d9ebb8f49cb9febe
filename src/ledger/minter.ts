/**
 * A server's side of minting: it takes attestations of its work from the consumers that audited it
 * (the `attest` ledger request) and mints for each once the attested session is settled at least as
 * far as the attestation reaches (the mint block carries the consumer's debit for it). An
 * attestation that comes before that settlement waits, in memory and bounded, for the settlement.
 */
import { PaymentError } from '../util/errors.ts'
import { logger } from '../util/log.ts'
import { type Attestation, attestationId, attestationProblem, epochOf } from './attest.ts'
import type { Ledger } from './ledger.ts'

const log = logger('ledger:mint')

/** attestations waiting for their settlement, at most (all consumers), and per consumer */
const MAX_WAITING = 1024
const MAX_WAITING_PER_CONSUMER = 32
/** how far ahead of this node's clock an attestation may be dated */
const MAX_SKEW_MS = 5 * 60_000

export type MintResult =
  | { readonly result: 'minted', readonly amount: number }
  /** the epoch's cap is reached: nothing minted, nothing owed */
  | { readonly result: 'capped' }
  /** the session is not settled that far yet: minted when it is */
  | { readonly result: 'waiting' }
  /** this attestation minted already */
  | { readonly result: 'known' }

export class Minter {
  /** per commitment: attestations waiting for a settlement that reaches them */
  private readonly waiting = new Map<string, Attestation[]>()
  private count = 0

  constructor (private readonly ledger: Ledger) {}

  /** Takes an attestation of this account's work; throws PAYMENT_INVALID or ACCOUNT_REFUSED for one that does not hold. */
  async take (a: Attestation): Promise<MintResult> {
    const { ledger } = this
    if (a.server !== ledger.account) throw new PaymentError('PAYMENT_INVALID', 'the attestation is of another server\'s work')
    const why = ledger.refusedWhy(a.consumer)
    if (why !== undefined) throw new PaymentError('ACCOUNT_REFUSED', `account ${a.consumer.slice(-8)}: ${why}; it is refused here`)
    const now = Date.now()
    if (a.at > now + MAX_SKEW_MS) throw new PaymentError('PAYMENT_INVALID', 'the attestation is dated in the future')
    if (epochOf(a.at) !== epochOf(now)) throw new PaymentError('PAYMENT_INVALID', 'the attestation is of an epoch that has ended')
    if (ledger.store.minted(attestationId(a))) return { result: 'known' }
    const session = ledger.store.session(a.commitment)
    if (session === undefined || session.consumer !== a.consumer || session.session !== a.served[0].session) {
      throw new PaymentError('PAYMENT_INVALID', 'no session of this server was opened by that consumer with that commitment')
    }
    const problem = await attestationProblem(a)
    if (problem !== undefined) throw new PaymentError('PAYMENT_INVALID', problem)
    const minted = await this.tryMint(a)
    if (minted !== undefined) return minted
    const queue = this.waiting.get(a.commitment) ?? []
    const mine = [...this.waiting.values()].reduce((n, q) => n + q.filter(x => x.consumer === a.consumer).length, 0)
    if (this.count >= MAX_WAITING || mine >= MAX_WAITING_PER_CONSUMER) throw new PaymentError('PAYMENT_INVALID', 'too many attestations wait for their settlement; send it again once the session is settled')
    if (!queue.some(x => attestationId(x) === attestationId(a))) { queue.push(a); this.count++ }
    this.waiting.set(a.commitment, queue)
    return { result: 'waiting' }
  }

  /** A settlement of `commitment` came in: mints for the attestations it now reaches. */
  async settled (commitment: string): Promise<void> {
    const queue = this.waiting.get(commitment)
    if (queue === undefined) return
    const left: Attestation[] = []
    for (const a of queue) {
      if (epochOf(a.at) !== epochOf(Date.now())) continue
      const r = await this.tryMint(a).catch(err => { log('minting for %s: %s', a.served[0].session, (err as Error).message); return { result: 'known' } as const })
      if (r === undefined) left.push(a)
    }
    this.count -= queue.length - left.length
    if (left.length === 0) this.waiting.delete(commitment)
    else this.waiting.set(commitment, left)
  }

  /** Mints if the session is settled far enough; undefined if it is not yet. */
  private async tryMint (a: Attestation): Promise<MintResult | undefined> {
    const paid = this.ledger.store.lastSettlement(a.commitment)
    if (paid === undefined || paid.to < a.tokens || paid.theirs === undefined) return undefined
    const block = await this.ledger.mint(a, paid.theirs)
    if (block !== undefined) return { result: 'minted', amount: block.amount }
    return this.ledger.store.minted(attestationId(a)) ? { result: 'known' } : { result: 'capped' }
  }
}

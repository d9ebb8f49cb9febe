/**
 * The consumer's side of payment (a HopPayer for every session a client opens, audits included).
 * At open it makes a hash chain for the session and signs the commitment at the server's announced
 * price; every result is paid by revealing the next preimage (span-client.ts sends it). It settles
 * what it paid when the session closes, and sooner once the unsettled amount reaches the server's
 * payment threshold: its debit goes into this account's chain (persisted before it is sent), the
 * server's agreement comes back. A settlement the server did not answer stays pending and is sent
 * again (every `retryMs`, and when the wallet starts) until it is agreed to; the server answers a
 * retry with its first agreement, so nothing is paid twice.
 */
import { type HopPayer, type HopPayment, type NetNode, type PaymentCommitment, type PeerAddress, ledgerRequest } from '../net/index.ts'
import { PaymentError } from '../util/errors.ts'
import { unref } from '../util/bytes.ts'
import { logger } from '../util/log.ts'
import { parseBlock } from './block.ts'
import type { Ledger } from './ledger.ts'
import { type WorkEvidence, attestationProblem, signAttestation } from './attest.ts'
import type { MintResult } from './minter.ts'
import { HashChain, commitmentId, parseReceipt, signCommitment } from './payword.ts'
import { PROTOCOL } from './policy.ts'
import type { SettlementRow } from './store.ts'

const log = logger('ledger:wallet')

/** sessions whose audits this wallet can still attest */
const MAX_ATTESTABLE = 4096

/** What a server asks, from its signed record. */
export interface ServerTerms {
  /** µcr per block-token */
  readonly price: number
  /** µcr: settle before owing it this much */
  readonly payThreshold: number
}

export interface WalletOptions {
  readonly ledger: Ledger
  readonly node: NetNode
  /** a server's terms (its record), or undefined if it asks nothing */
  readonly terms: (server: string, model: string) => Promise<ServerTerms | undefined>
  /** where to reach a server for settling; default: by its peer id (an open connection, or peer routing) */
  readonly address?: (server: string) => PeerAddress
  /** how long a commitment lasts; default 24 h */
  readonly commitmentMs?: number
  /** how often pending settlements are sent again; default 5 s */
  readonly retryMs?: number
  /** tokens a commitment covers per token of the session's length (rollbacks recompute); default 2 */
  readonly tokensPerPosition?: number
}

export class Wallet implements HopPayer {
  /** µcr this wallet paid per server, since it started (tests, metrics) */
  readonly paid = new Map<string, number>()
  private readonly timer: NodeJS.Timeout
  private retrying: Promise<void> | undefined
  /** what servers answered this wallet's attestations (tests, metrics) */
  readonly attestations: Record<MintResult['result'] | 'failed', number> = { minted: 0, capped: 0, waiting: 0, known: 0, failed: 0 }
  private readonly tasks = new Set<Promise<void>>()
  /** per session paid for: its commitment's id, for attesting audits of it (the newest MAX_ATTESTABLE) */
  private readonly attestable = new Map<string, { commitment: string, server: string }>()
  private closed = false

  constructor (private readonly options: WalletOptions) {
    this.timer = unref(setInterval(() => { void this.retryPending() }, options.retryMs ?? 5000))
    void this.retryPending()
  }

  get ledger (): Ledger {
    return this.options.ledger
  }

  async open (server: string, s: { session: string, model: string, start: number, end: number, maxLength: number }): Promise<HopPayment | undefined> {
    // paying oneself (a node's API client through the node's own span) moves nothing, and no one would agree to it
    if (server === this.ledger.account) return undefined
    const terms = await this.options.terms(server, s.model)
    if (terms === undefined || terms.price === 0) return undefined
    const maxTokens = Math.max(1, Math.ceil(s.maxLength * (this.options.tokensPerPosition ?? 2)))
    // the ledger refuses any debit that would cross the debt limit, so a session whose first settlement
    // (at most the server's threshold, or all the session can cost) could not be paid goes unpaid from
    // the start: served after every paying peer (servers that take only payment refuse it), not cut off midway
    const firstSettlement = Math.min(terms.payThreshold, terms.price * (s.end - s.start) * maxTokens)
    if (this.ledger.balance - firstSettlement < -PROTOCOL.maxDebt) {
      log('this account is at the debt limit (%d µcr): opening unpaid at %s', this.ledger.balance, server.slice(-8))
      return undefined
    }
    const chain = new HashChain(maxTokens)
    const commitment = await signCommitment({
      session: s.session, server, model: s.model, start: s.start, end: s.end, price: terms.price * (s.end - s.start),
      root: chain.root, maxTokens, expiresAt: Date.now() + (this.options.commitmentMs ?? 24 * 3600_000), head: this.ledger.headInfo()
    }, this.ledger.signer)
    this.attestable.set(s.session, { commitment: commitmentId(commitment), server })
    if (this.attestable.size > MAX_ATTESTABLE) this.attestable.delete(this.attestable.keys().next().value!)
    return new SessionPayment(this, commitment, chain, terms.payThreshold)
  }

  /**
   * Attests a passed audit of a session this wallet paid for, to its server, which mints for it
   * (attest.ts). Sessions it did not pay for, and evidence that does not hold, are not attested.
   */
  attest (evidence: WorkEvidence): void {
    const [first, last] = evidence.served
    const paid = this.attestable.get(first.session)
    if (paid === undefined || this.closed) return
    const server = this.options.address?.(paid.server) ?? { id: paid.server, addrs: [] }
    this.track((async () => {
      const a = await signAttestation({ consumer: this.ledger.account, server: paid.server, commitment: paid.commitment, tokens: last.from + last.rows, ...evidence }, this.ledger.signer)
      const problem = await attestationProblem(a)
      if (problem !== undefined) { this.attestations.failed++; log('not attesting %s: %s', first.session, problem); return }
      try {
        const reply = await ledgerRequest(this.options.node, server, { t: 'attest', attestation: a }, { timeoutMs: 15_000 })
        const result = reply.result as MintResult['result']
        if (reply.t !== 'minted' || !(result in this.attestations)) throw new PaymentError('PAYMENT_INVALID', `unexpected answer "${String(reply.t)}" to an attestation`)
        this.attestations[result]++
      } catch (err) {
        this.attestations.failed++
        log('attesting %s to %s: %s', first.session, server.id.slice(-8), (err as Error).message)
      }
    })())
  }

  /** Pays a receipt: the debit into the chain, then to the server for its agreement. */
  async settle (commitment: PaymentCommitment, from: number, to: number, preimage: string): Promise<void> {
    const row = await this.ledger.pay({ commitment, from, to, preimage })
    this.paid.set(commitment.server, (this.paid.get(commitment.server) ?? 0) + row.amount)
    await this.send(row).catch(err => { log('settling with %s: %s (will retry)', commitment.server.slice(-8), (err as Error).message) })
  }

  private async send (row: SettlementRow): Promise<void> {
    const debit = this.ledger.blockAt(row.seq)
    const server = this.options.address?.(row.counterparty) ?? { id: row.counterparty, addrs: [] }
    const reply = await ledgerRequest(this.options.node, server, { t: 'settle', debit }, { timeoutMs: 15_000 })
    if (reply.t !== 'agreed') throw new PaymentError('PAYMENT_INVALID', `unexpected answer "${String(reply.t)}" to a settlement`)
    await this.ledger.agreed(row, parseBlock(reply.credit))
  }

  /** Sends every pending settlement again, oldest first (a session's settlements must arrive in order). */
  async retryPending (): Promise<void> {
    if (this.closed) return
    this.retrying ??= (async () => {
      const failed = new Set<string>()
      for (const row of this.ledger.store.pending()) {
        // a session's later settlements cannot go before its earlier ones: one failure per server waits for the next round
        if (this.closed || failed.has(row.counterparty)) continue
        try {
          await this.send(row)
        } catch (err) {
          failed.add(row.counterparty)
          log('pending settlement %s with %s: %s', row.receipt.slice(0, 12), row.counterparty.slice(-8), (err as Error).message)
        }
      }
    })().finally(() => { this.retrying = undefined })
    await this.retrying
  }

  /** Keeps `task` among what idle() and close() wait for. */
  track (task: Promise<void>): void {
    const t = task.catch(err => { log('%s', (err as Error).message) }).finally(() => { this.tasks.delete(t) })
    this.tasks.add(t)
  }

  /** Waits for the settlements under way. */
  async idle (): Promise<void> {
    while (this.tasks.size > 0) await Promise.allSettled([...this.tasks])
  }

  async close (): Promise<void> {
    await this.idle()
    this.closed = true
    clearInterval(this.timer)
    await this.retrying
  }

  /** µcr of settlements still waiting for their agreement. */
  pendingAmount (): number {
    return this.ledger.store.pending().reduce((n, r) => n + r.amount, 0)
  }

  /** The receipt of a pending settlement (for tests). */
  static receiptOf (row: SettlementRow): ReturnType<typeof parseReceipt> {
    return parseReceipt(JSON.parse(row.detail))
  }
}

class SessionPayment implements HopPayment {
  private revealed = 0
  private settled = 0
  private chainOfSettlements: Promise<void> = Promise.resolve()
  private ended = false

  constructor (private readonly wallet: Wallet, readonly commitment: PaymentCommitment, private readonly chain: HashChain, private readonly threshold: number) {}

  preimage (tokens: number): string {
    const w = this.chain.preimage(tokens)
    if (tokens > this.revealed) this.revealed = tokens
    if ((this.revealed - this.settled) * this.commitment.price >= this.threshold) this.settleNow()
    return w
  }

  close (): void {
    if (this.ended) return
    this.ended = true
    this.settleNow()
  }

  /** Settles what is revealed and unsettled, after the settlements before it. */
  private settleNow (): void {
    const to = this.revealed
    if (to <= this.settled) return
    const from = this.settled
    this.settled = to
    const run = this.chainOfSettlements.then(async () => { await this.wallet.settle(this.commitment, from, to, this.chain.preimage(to)) })
    this.chainOfSettlements = run.catch(() => {})
    this.wallet.track(run)
  }
}

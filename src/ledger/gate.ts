/**
 * The span server's side of payment (its PaymentGate). A session opens only with a commitment this
 * server can take: signed by the peer opening it, naming this server, the session and span, at
 * least the announced price, not expired, never used before, from an account not refused (a fork
 * proof) and not past the debt limit. Then each step runs only once every token computed before it
 * is paid (unpaid work is at most one step), and only while what the consumer owes here unsettled
 * stays under the disconnect threshold; a step whose payment does not come within payWaitMs is
 * refused with PAYMENT_REQUIRED, and the session ends. Balances order the compute queue.
 */
import type { PaymentCommitment, PaymentGate, SessionMeter } from '../net/index.ts'
import { PaymentError } from '../util/errors.ts'
import { logger } from '../util/log.ts'
import type { Ledger } from './ledger.ts'
import { commitmentId, hashTimes, verifyCommitment } from './payword.ts'
import { PROTOCOL, type ServerCreditPolicy, UNPAID_TIER, priorityTier } from './policy.ts'

const log = logger('ledger:gate')

export class CreditGate implements PaymentGate {
  /** paid sessions open, or closed with tokens unsettled (for an hour), by commitment id */
  private readonly live = new Map<string, PaidSession>()
  /** per peer opening sessions: the account paying for them and the balance it stated in its last accepted commitment */
  private readonly accounts = new Map<string, { account: string | undefined, stated: number | undefined }>()

  constructor (readonly ledger: Ledger, readonly policy: ServerCreditPolicy) {}

  async open (peer: string, s: { session: string, model: string, start: number, end: number }, c: PaymentCommitment | null): Promise<SessionMeter> {
    const price = this.policy.price * (s.end - s.start)
    for (const account of c === null ? [peer] : [peer, c.consumer]) {
      const why = this.ledger.refusedWhy(account)
      if (why !== undefined) throw new PaymentError('ACCOUNT_REFUSED', `account ${account.slice(-8)}: ${why}; this server refuses it`)
    }
    if (c === null) {
      if (price > 0 && this.policy.paidOnly) throw new PaymentError('PAYMENT_REQUIRED', `this server charges ${this.policy.price} µcr per block-token: open with a payment commitment`)
      if (price > 0) this.remember(peer, undefined, undefined)
      return FREE
    }
    const me = this.ledger.account
    // the commitment may be another account's than the peer's (a node's API client pays from the node's account):
    // it is worth nothing to anyone but its consumer, whose preimages alone pay for the tokens
    if (c.server !== me || c.session !== s.session || c.model !== s.model || c.start !== s.start || c.end !== s.end) throw new PaymentError('PAYMENT_INVALID', 'the commitment is for another session')
    if (c.price < price) throw new PaymentError('PAYMENT_INVALID', `the commitment pays ${c.price} µcr per token; this server's price for blocks ${s.start}:${s.end} is ${price}`)
    if (c.expiresAt <= Date.now()) throw new PaymentError('PAYMENT_INVALID', 'the commitment has expired')
    if (!await verifyCommitment(c)) throw new PaymentError('PAYMENT_INVALID', 'the commitment is not signed by its consumer')
    const id = commitmentId(c)
    const store = this.ledger.store
    if (store.session(id) !== undefined) throw new PaymentError('PAYMENT_INVALID', 'this commitment was used before')
    const consumer = c.consumer
    const balance = this.accountBalance(consumer, c.head?.balance)
    if (balance < -PROTOCOL.maxDebt) throw new PaymentError('PAYMENT_REQUIRED', `account ${consumer.slice(-8)} owes more than the debt limit`)
    if (this.exposure(consumer) > this.policy.disconnectThreshold) throw new PaymentError('PAYMENT_REQUIRED', `account ${consumer.slice(-8)} has ${this.exposure(consumer)} µcr unsettled here: settle first`)
    store.addSession({ commitment: id, session: c.session, consumer, body: JSON.stringify(c), settled: 0, preimage: c.root })
    this.remember(peer, consumer, c.head?.balance)
    const meter = new PaidSession(this, id, c)
    this.live.set(id, meter)
    return meter
  }

  /**
   * An account's balance as this server believes it: what it stated when it last opened a session,
   * held to what this node has seen of its chain (plus at most a grant's worth), less slashes.
   */
  accountBalance (account: string, stated: number | undefined): number {
    const known = this.ledger.knownBalance(account)
    if (known === undefined) return Math.min(stated ?? 0, PROTOCOL.maxGrant) // a stranger: no more than a grant's worth
    return Math.min(stated ?? known, known + PROTOCOL.maxGrant)
  }

  private remember (peer: string, account: string | undefined, stated: number | undefined): void {
    this.accounts.delete(peer)
    this.accounts.set(peer, { account, stated })
    if (this.accounts.size > 10_000) this.accounts.delete(this.accounts.keys().next().value!)
  }

  /** The balance of the account paying for `peer`'s sessions (0 if unknown). */
  balanceOf (peer: string): number {
    const a = this.accounts.get(peer)
    return a?.account === undefined ? 0 : this.accountBalance(a.account, a.stated)
  }

  priority (peer: string): number {
    const a = this.accounts.get(peer)
    if (a !== undefined && a.account === undefined) return UNPAID_TIER
    return priorityTier(this.balanceOf(peer))
  }

  /** µcr this consumer owes here, computed but not settled, over its open sessions. */
  exposure (consumer: string): number {
    let sum = 0
    for (const m of this.live.values()) if (m.consumer === consumer) sum += m.unsettled
    return sum
  }

  /** A settlement arrived: the session's settled count moves on. */
  settled (commitment: string, to: number): void {
    this.live.get(commitment)?.settledTo(to)
  }

  /** Wakes every session of `consumer` (its exposure changed). */
  wake (consumer: string): void {
    for (const m of this.live.values()) if (m.consumer === consumer) m.notify()
  }

  /** Forgets sessions that are closed and settled, or closed for more than an hour. */
  prune (): void {
    const now = Date.now()
    for (const [id, m] of this.live) if (m.closedAt !== undefined && (m.unsettled <= 0 || now - m.closedAt > 3600_000)) this.live.delete(id)
  }

  get openSessions (): number {
    return this.live.size
  }
}

const FREE: SessionMeter = { beforeStep: async () => {}, afterStep: () => {}, pay: () => { throw new PaymentError('PAYMENT_INVALID', 'this session is free') }, close: () => {} }

class PaidSession implements SessionMeter {
  served = 0
  private paid = 0
  private preimage: string
  private settled = 0
  private wakeUp = Promise.withResolvers<void>()
  closedAt: number | undefined

  constructor (private readonly gate: CreditGate, readonly id: string, private readonly c: PaymentCommitment) {
    this.preimage = c.root
  }

  get consumer (): string {
    return this.c.consumer
  }

  /** µcr computed here and not yet settled */
  get unsettled (): number {
    return (this.served - this.settled) * this.c.price
  }

  async beforeStep (rows: number): Promise<void> {
    const { policy } = this.gate
    if (Date.now() >= this.c.expiresAt) throw new PaymentError('PAYMENT_REQUIRED', 'the session\'s payment commitment has expired')
    if (this.served + rows > this.c.maxTokens) throw new PaymentError('PAYMENT_REQUIRED', `the commitment pays for ${this.c.maxTokens} tokens; ${this.served} are used`)
    const ok = (): boolean => this.paid >= this.served && this.gate.exposure(this.consumer) + rows * this.c.price <= policy.disconnectThreshold
    const until = Date.now() + policy.payWaitMs
    while (!ok()) {
      const left = until - Date.now()
      if (left <= 0 || this.closedAt !== undefined) {
        const why = this.paid < this.served ? `tokens ${this.paid + 1}..${this.served} were not paid` : `${this.gate.exposure(this.consumer)} µcr are unsettled, past the disconnect threshold`
        log('refusing a step of %s: %s', this.c.session, why)
        throw new PaymentError('PAYMENT_REQUIRED', `${why} within ${policy.payWaitMs} ms`)
      }
      let timer: NodeJS.Timeout | undefined
      await Promise.race([this.wakeUp.promise, new Promise<void>(resolve => { timer = setTimeout(resolve, left) })])
      clearTimeout(timer)
    }
  }

  afterStep (rows: number): void {
    this.served += rows
  }

  pay (tokens: number, preimage: string): void {
    if (tokens <= this.paid) return // already paid (a resend)
    if (tokens > this.c.maxTokens) throw new PaymentError('PAYMENT_INVALID', `the commitment covers ${this.c.maxTokens} tokens, not ${tokens}`)
    if (Date.now() >= this.c.expiresAt) throw new PaymentError('PAYMENT_INVALID', 'the commitment has expired')
    if (hashTimes(preimage, tokens - this.paid) !== this.preimage) throw new PaymentError('PAYMENT_INVALID', `that preimage does not pay for tokens ${this.paid + 1}..${tokens}`)
    this.paid = tokens
    this.preimage = preimage
    this.notify()
  }

  settledTo (to: number): void {
    if (to > this.settled) this.settled = to
    this.gate.wake(this.consumer)
    if (this.closedAt !== undefined) this.gate.prune()
  }

  notify (): void {
    const w = this.wakeUp
    this.wakeUp = Promise.withResolvers<void>()
    w.resolve()
  }

  close (): void {
    this.closedAt = Date.now()
    this.gate.prune()
    this.notify()
  }
}

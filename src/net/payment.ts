/**
 * Payment on the span protocol (PayWord). At `open` a paying client hands the server a commitment
 * it signed: this session, this server, the span, the price per token, the root of a hash chain,
 * the most tokens it will pay for and an expiry. Each token is then paid by revealing the next
 * preimage of the chain (`pay {session, tokens, preimage}`: the preimage after `tokens` tokens), so
 * the server checks one hash per token and nobody signs anything per token. What the commitment and
 * the preimages mean, and how they are settled, is the ledger's (src/ledger); here are the wire forms.
 *
 * Hooks: a server's PaymentGate decides what it accepts and when a step may run; a client's
 * HopPayer makes the commitment for each session it opens and the preimages as results come in.
 */
import { ProtocolError } from '../util/errors.ts'

/** What a consumer commits to at open, signed by the consumer (ledger/payword.ts signs and checks it). */
export interface PaymentCommitment {
  readonly v: 1
  readonly session: string
  /** the paying account (a peer id) */
  readonly consumer: string
  /** the account paid (the server's peer id) */
  readonly server: string
  readonly model: string
  readonly start: number
  readonly end: number
  /** micro-credits per token of this session (the server's announced price per block-token × blocks) */
  readonly price: number
  /** hex SHA-256 hash-chain root w_0; the preimage after k tokens is w_k, with H(w_k) = w_(k-1) */
  readonly root: string
  readonly maxTokens: number
  /** ms since the epoch */
  readonly expiresAt: number
  /** the consumer's ledger head when it opened (its balance orders the server's queue) */
  readonly head: AccountHead | null
  readonly sig: string
}

export interface AccountHead {
  readonly seq: number
  readonly hash: string
  /** micro-credits */
  readonly balance: number
}

export type PayMsg = { readonly t: 'pay', readonly session: string, readonly tokens: number, readonly preimage: string }

const HEX64 = /^[0-9a-f]{64}$/
const SIG = /^[0-9a-f]{128}$/
const PEER = /^[1-9A-HJ-NP-Za-km-z]{40,100}$/
const SESSION = /^[A-Za-z0-9_-]{8,64}$/

const int = (v: unknown, min = 0): v is number => Number.isSafeInteger(v) && (v as number) >= min

function bad (why: string): never {
  throw new ProtocolError('BAD_MESSAGE', `"payment" ${why}`)
}

export function parseHead (v: unknown): AccountHead | null {
  if (v === null || v === undefined) return null
  const h = v as Record<string, unknown>
  if (typeof h !== 'object' || !int(h.seq) || typeof h.hash !== 'string' || !HEX64.test(h.hash) || !Number.isSafeInteger(h.balance)) bad('head must be {seq, hash, balance}')
  return { seq: h.seq as number, hash: h.hash as string, balance: h.balance as number }
}

/** Checks the form of an `open`'s `payment` field; null when absent. */
export function parsePaymentCommitment (v: unknown): PaymentCommitment | null {
  if (v === null || v === undefined) return null
  const c = v as Record<string, unknown>
  if (typeof c !== 'object' || Array.isArray(c)) bad('must be an object')
  if (c.v !== 1) bad('has an unknown version')
  if (typeof c.session !== 'string' || !SESSION.test(c.session)) bad('needs a session id')
  if (typeof c.consumer !== 'string' || !PEER.test(c.consumer) || typeof c.server !== 'string' || !PEER.test(c.server)) bad('needs consumer and server peer ids')
  if (typeof c.model !== 'string' || c.model.length > 256) bad('needs a model id')
  if (!int(c.start) || !int(c.end, 1) || !int(c.price) || !int(c.maxTokens, 1) || !int(c.expiresAt)) bad('needs start, end, price, maxTokens and expiresAt as integers')
  if (typeof c.root !== 'string' || !HEX64.test(c.root)) bad('needs a hex hash-chain root')
  if (typeof c.sig !== 'string' || !SIG.test(c.sig)) bad('needs a signature')
  return {
    v: 1, session: c.session, consumer: c.consumer, server: c.server, model: c.model, start: c.start as number, end: c.end as number,
    price: c.price as number, root: c.root, maxTokens: c.maxTokens as number, expiresAt: c.expiresAt as number, head: parseHead(c.head), sig: c.sig
  }
}

/** The bytes a consumer signs for a commitment (all but `sig`). */
export function commitmentBytes (c: Omit<PaymentCommitment, 'sig'>): Uint8Array {
  return new TextEncoder().encode('gridllm-pay:' + JSON.stringify([c.v, c.session, c.consumer, c.server, c.model, c.start, c.end, c.price, c.root, c.maxTokens, c.expiresAt,
    c.head === null ? null : [c.head.seq, c.head.hash, c.head.balance]]))
}

export function parsePayMsg (h: Record<string, unknown>): PayMsg {
  if (typeof h.session !== 'string' || !SESSION.test(h.session)) throw new ProtocolError('BAD_MESSAGE', '"pay" needs a valid session')
  if (!int(h.tokens, 1)) throw new ProtocolError('BAD_MESSAGE', '"pay" needs a positive integer "tokens"')
  if (typeof h.preimage !== 'string' || !HEX64.test(h.preimage)) throw new ProtocolError('BAD_MESSAGE', '"pay" needs a hex "preimage"')
  return { t: 'pay', session: h.session, tokens: h.tokens as number, preimage: h.preimage }
}

/** Server side: what a span server asks of payments (implemented by the ledger). */
export interface PaymentGate {
  /**
   * A session is opening: checks the client's commitment (or its absence) and returns the meter of
   * the session's payments; throws PAYMENT_REQUIRED, PAYMENT_INVALID or ACCOUNT_REFUSED to refuse it.
   */
  open (peer: string, session: { session: string, model: string, start: number, end: number }, commitment: PaymentCommitment | null): Promise<SessionMeter>
  /** a peer's place in the compute queue: higher goes first (its balance, in coarse tiers) */
  priority (peer: string): number
}

export interface SessionMeter {
  /** Resolves once every token computed so far is paid (and `rows` more are allowed); rejects with PAYMENT_REQUIRED otherwise. */
  beforeStep (rows: number): Promise<void>
  /** `rows` tokens were computed */
  afterStep (rows: number): void
  /** a preimage paying for the first `tokens` tokens; throws PAYMENT_INVALID if it does not hash to the last one paid */
  pay (tokens: number, preimage: string): void
  /** the session closed */
  close (): void
}

/** Client side: the payment of one session a client opens (implemented by the ledger's wallet). */
export interface HopPayment {
  /** goes in the `open` message */
  readonly commitment: PaymentCommitment
  /** the preimage paying for the first `tokens` tokens */
  preimage (tokens: number): string
  /** the session is over (settle what was paid) */
  close (): void
}

export interface HopPayer {
  /** The payment for a session about to open at `server`, or undefined if that server asks none. */
  open (server: string, session: { session: string, model: string, start: number, end: number, maxLength: number }): Promise<HopPayment | undefined>
}

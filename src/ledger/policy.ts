/**
 * The credit system's numbers. Amounts are integers in micro-credits (µcr; 1 credit = 1,000,000),
 * so sums are exact. Prices are per block-token: one token through one transformer block.
 */
export const MICRO = 1_000_000

/** What every honest peer holds the same: part of the protocol. */
export const PROTOCOL = {
  /** a new identity's grant (its first block) needs this many leading zero bits of proof of work for the smallest grant */
  minGrantBits: 16,
  /** the grant at minGrantBits; each further bit doubles it, up to maxGrant */
  grantUnit: MICRO / 4,
  maxGrant: 10 * MICRO,
  /** how far below zero an account may go (small debts, like AI Horde's) */
  maxDebt: 1 * MICRO,
  /** share of a convicted server's balance a checked fraud proof takes, once per proof */
  slashShare: 0.2,
  /** minting for audited work: µcr per audited block-token, and the most one account mints per epoch */
  mintPerBlockToken: 1,
  mintCapPerEpoch: 1 * MICRO,
  epochMs: 24 * 3600_000,
  /** a commitment's tokens may be settled until this long after it expires */
  settleGraceMs: 10 * 60_000
} as const

/** What each server sets for itself (flags of `gridllm serve`). */
export interface ServerCreditPolicy {
  /** µcr per block-token */
  price: number
  /** unsettled credit a consumer may owe this server before it should settle (Swarm's payment threshold) */
  payThreshold: number
  /** unsettled credit past which this server stops computing for a consumer; default 1.5 × payThreshold */
  disconnectThreshold: number
  /** how long a step waits for the payment of the step before it; default 10 s */
  payWaitMs: number
  /**
   * refuse sessions opened without a payment (PAYMENT_REQUIRED); by default they are served, after
   * every paying peer (balance buys priority, not access)
   */
  paidOnly: boolean
}

export const DEFAULT_PRICE = 10
export const DEFAULT_PAY_THRESHOLD = MICRO

export function serverPolicy (p: Partial<ServerCreditPolicy> = {}): ServerCreditPolicy {
  const payThreshold = p.payThreshold ?? DEFAULT_PAY_THRESHOLD
  return { price: p.price ?? DEFAULT_PRICE, payThreshold, disconnectThreshold: p.disconnectThreshold ?? Math.floor(1.5 * payThreshold), payWaitMs: p.payWaitMs ?? 10_000, paidOnly: p.paidOnly ?? false }
}

/** The grant a proof of work of `bits` leading zero bits earns. */
export function grantFor (bits: number): number {
  if (bits < PROTOCOL.minGrantBits) return 0
  return Math.min(PROTOCOL.maxGrant, PROTOCOL.grantUnit * 2 ** Math.min(30, bits - PROTOCOL.minGrantBits))
}

/** µcr as credits, for people: 1.5, 0.000012, -3 */
export function credits (micro: number): number {
  return micro / MICRO
}

export function formatCredits (micro: number): string {
  const sign = micro < 0 ? '-' : ''
  const a = Math.abs(micro)
  const frac = String(a % MICRO).padStart(6, '0').replace(/0+$/, '')
  return `${sign}${Math.floor(a / MICRO)}${frac === '' ? '' : `.${frac}`}`
}

/** the queue tier of a peer whose sessions do not pay: after everyone who pays */
export const UNPAID_TIER = -2

/** A coarse tier of a balance for queue order: debt below every newcomer, then one tier per doubling from 1 credit. */
export function priorityTier (balance: number): number {
  if (balance < 0) return -1
  if (balance < MICRO) return 0
  return 1 + Math.min(40, Math.floor(Math.log2(balance / MICRO)))
}

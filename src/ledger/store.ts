/**
 * Where a ledger lives: one small interface, so the same books can sit in SQLite on a node
 * (sqlite.ts) and in memory written through to IndexedDB in a browser tab (memory.ts). Every
 * method that changes several things does so atomically: a crash at any point leaves either all of
 * it or none of it. What is durable once a method returns (SQLite) or once `flush()` resolves (a
 * tab) survives a crash.
 */
import type { Block } from './block.ts'

/** One settlement this account is a party to. */
export interface SettlementRow {
  /** the receipt's hash: one settlement per receipt */
  readonly receipt: string
  /** the commitment's id and the token range it settles: one settlement per (commitment, from) */
  readonly commitment: string
  readonly from: number
  readonly to: number
  readonly role: 'payer' | 'payee'
  readonly counterparty: string
  /** µcr, positive: what moved */
  readonly amount: number
  /** my block's hash and seq */
  readonly mine: string
  readonly seq: number
  /** the counterparty's block; undefined while a payer waits for the agreement */
  readonly theirs: Block | undefined
  /** the receipt itself (JSON) */
  readonly detail: string
  readonly at: number
}

/** A session a payee opened against a commitment, and how far it is settled. */
export interface SessionRow {
  readonly commitment: string
  readonly session: string
  readonly consumer: string
  /** the commitment (JSON) */
  readonly body: string
  readonly settled: number
  /** the preimage after `settled` tokens (the root while none is) */
  readonly preimage: string
}

/** Sums over one account's chain (µcr, and counts of blocks). */
export interface LedgerTotals {
  readonly earned: number
  readonly spent: number
  readonly minted: number
  readonly slashed: number
  readonly blocks: number
  /** settlements this account was paid in (its credit blocks) */
  readonly payeeSettlements: number
  /** settlements this account paid (its debit blocks, agreed to or not yet) */
  readonly payerSettlements: number
}

export interface LedgerStore {
  /** the file, or ':memory:' */
  readonly location: string
  meta (key: string): string | undefined
  setMeta (key: string, value: string): void

  /** this account's last block */
  head (): Block | undefined
  blocks (fromSeq: number, limit: number): Block[]
  /** appends a block of this account (seq must be head + 1); for kinds without a settlement */
  append (block: Block): void

  settlement (receipt: string): SettlementRow | undefined
  settlementAt (commitment: string, from: number): SettlementRow | undefined
  /** the last `limit` settlements, newest first */
  recent (limit: number): SettlementRow[]
  /** payer settlements still waiting for their agreement */
  pending (): SettlementRow[]
  /** in one transaction: my block, its settlement, and (payee) the session's settled count */
  settle (block: Block, row: SettlementRow, advance?: { commitment: string, to: number, preimage: string }): void
  /** a payer's agreement arrived */
  agreed (receipt: string, theirs: Block): void

  /** the payee settlement of a commitment that reaches furthest */
  lastSettlement (commitment: string): SettlementRow | undefined

  /** in one transaction: a mint block and the attestation it mints for (refused if that attestation minted already) */
  mint (block: Block, attestation: string, epoch: number): void
  /** whether an attestation minted already */
  minted (attestation: string): boolean
  /** µcr this account minted for audited work in an epoch */
  mintedIn (epoch: number): number

  session (commitment: string): SessionRow | undefined
  addSession (row: SessionRow): void

  /** another account's block this node has seen (as a counterparty or a witness), by (account, seq) */
  seen (account: string, seq: number): Block | undefined
  remember (block: Block): void
  /** the newest block of another account this node has seen */
  latest (account: string): Block | undefined

  /** the fork proof that refuses an account, if any */
  fork (account: string): { a: Block, b: Block } | undefined
  addFork (account: string, a: Block, b: Block): void
  forks (): string[]

  /** a misconduct proof that refuses an account (payer-check.ts), if any: why, and the proof (JSON) */
  refusal (account: string): { why: string, proof: string } | undefined
  addRefusal (account: string, why: string, proof: string): void

  /** records a slash once per proof; false if that proof already slashed */
  addSlash (proof: string, account: string, amount: number): boolean
  slashed (account: string): number

  /** sums over this account's chain */
  totals (): LedgerTotals
  /** resolves once every change so far survives a crash (SQLite: at once, every transaction is durable) */
  flush (): Promise<void>
  close (): void
}

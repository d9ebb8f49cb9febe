/**
 * The ledger in memory, with the tables of sqlite.ts as maps (and the indexes its queries use), for
 * a browser tab: every change is a row put into a table, handed in batches to `persist` (IndexedDB
 * in a tab, web/node/account.ts), and a store restored from those rows is the same store. Each
 * method checks everything before it changes anything, so it changes all of its rows or none, and
 * its rows reach `persist` in one batch. `flush()` resolves once every change so far is persisted:
 * the Ledger awaits it before any block it signed leaves, so a crash can lose only blocks no one saw.
 */
import { PaymentError } from '../util/errors.ts'
import type { Block } from './block.ts'
import type { LedgerStore, LedgerTotals, SessionRow, SettlementRow } from './store.ts'

/** The tables (sqlite.ts's), and the value of a row in each. */
export interface Tables {
  meta: string
  chain: Block
  settlements: SettlementRow
  sessions: SessionRow
  seen: { block: Block, at: number }
  forks: { a: Block, b: Block }
  mints: { seq: number, epoch: number, amount: number }
  refusals: { why: string, proof: string }
  slashes: { account: string, amount: number }
}
export type Table = keyof Tables
export const TABLES: readonly Table[] = ['meta', 'chain', 'settlements', 'sessions', 'seen', 'forks', 'mints', 'refusals', 'slashes']

/** One row written (a `value`) or removed (none). */
export interface Change<T extends Table = Table> {
  readonly table: T
  readonly key: string
  readonly value?: Tables[T]
}

export interface MemoryStoreOptions {
  /** where the rows go; none: the ledger lasts as long as the store */
  persist?: (changes: readonly Change[]) => Promise<void>
  /** the rows persisted before (a store restored) */
  rows?: Iterable<Change>
  /** other accounts' blocks remembered, at most (the oldest are forgotten first); default 20 000 */
  maxSeen?: number
  location?: string
}

const chainKey = (seq: number): string => String(seq).padStart(12, '0')

export class MemoryStore implements LedgerStore {
  readonly location: string
  private readonly t = new Map<Table, Map<string, unknown>>(TABLES.map(n => [n, new Map()]))
  // indexes over the tables
  private chain: Block[] = []
  private readonly byRange = new Map<string, string>()
  private readonly furthest = new Map<string, SettlementRow>()
  private readonly waiting = new Set<string>()
  private readonly latestSeen = new Map<string, Block>()
  private readonly mintedBy = new Map<number, number>()
  private readonly slashedBy = new Map<string, number>()
  private sums = { earned: 0, spent: 0, minted: 0, slashed: 0, payee: 0, payer: 0 }
  // persistence
  private batch: Change[] = []
  private flushing: Promise<void> = Promise.resolve()
  private scheduled = false
  private closed = false

  constructor (private readonly options: MemoryStoreOptions = {}) {
    this.location = options.location ?? ':memory:'
    for (const row of options.rows ?? []) this.apply(row, false)
  }

  private get<T extends Table> (table: T, key: string): Tables[T] | undefined {
    return this.t.get(table)!.get(key) as Tables[T] | undefined
  }

  /** writes one row (or removes it), keeps the indexes, and queues the change for `persist` */
  private put<T extends Table> (table: T, key: string, value: Tables[T] | undefined): void {
    this.apply({ table, key, value }, true)
  }

  private apply (c: Change, queue: boolean): void {
    const rows = this.t.get(c.table)!
    const old = rows.get(c.key)
    if (c.value === undefined) rows.delete(c.key)
    else rows.set(c.key, c.value)
    this.index(c, old)
    if (queue && this.options.persist !== undefined) { this.batch.push(c); this.schedule() }
  }

  private index (c: Change, old: unknown): void {
    switch (c.table) {
      case 'chain': {
        const b = c.value as Block
        this.chain[b.seq] = b
        if (b.kind === 'credit') { this.sums.earned += b.amount; this.sums.payee++ }
        if (b.kind === 'debit') { this.sums.spent -= b.amount; this.sums.payer++ }
        if (b.kind === 'mint' || b.kind === 'open') this.sums.minted += b.amount
        if (b.kind === 'slash') this.sums.slashed -= b.amount
        break
      }
      case 'settlements': {
        const r = c.value as SettlementRow
        this.byRange.set(`${r.commitment}:${r.from}`, r.receipt)
        const furthest = this.furthest.get(r.commitment)
        if (r.role === 'payee' && (furthest === undefined || furthest.to < r.to || furthest.receipt === r.receipt)) this.furthest.set(r.commitment, r)
        if (r.role === 'payer' && r.theirs === undefined) this.waiting.add(r.receipt)
        else this.waiting.delete(r.receipt)
        break
      }
      case 'seen': {
        const b = (c.value as Tables['seen'] | undefined)?.block
        const account = c.key.slice(0, c.key.lastIndexOf('/'))
        const latest = this.latestSeen.get(account)
        if (b !== undefined && (latest === undefined || latest.seq < b.seq)) this.latestSeen.set(account, b)
        // forgotten: the account's newest block is the newest one still remembered (the oldest are forgotten first)
        if (b === undefined && latest !== undefined && latest.seq === (old as Tables['seen']).block.seq) this.latestSeen.delete(account)
        break
      }
      case 'mints': {
        const m = c.value as Tables['mints']
        this.mintedBy.set(m.epoch, (this.mintedBy.get(m.epoch) ?? 0) + m.amount)
        break
      }
      case 'slashes': {
        const s = c.value as Tables['slashes']
        this.slashedBy.set(s.account, (this.slashedBy.get(s.account) ?? 0) + s.amount)
        break
      }
    }
  }

  private schedule (): void {
    if (this.scheduled) return
    this.scheduled = true
    setTimeout(() => { this.scheduled = false; void this.flush().catch(() => {}) }, 0)
  }

  /** Resolves once every change so far is persisted (at once without `persist`). */
  async flush (): Promise<void> {
    const persist = this.options.persist
    if (persist === undefined) return
    const run = this.flushing.then(async () => {
      const batch = this.batch
      if (batch.length === 0) return
      this.batch = []
      try {
        await persist(batch)
      } catch (err) {
        this.batch = [...batch, ...this.batch]
        throw err
      }
    })
    this.flushing = run.catch(() => {})
    await run
  }

  meta (key: string): string | undefined {
    return this.get('meta', key)
  }

  setMeta (key: string, value: string): void {
    this.put('meta', key, value)
  }

  head (): Block | undefined {
    return this.chain[this.chain.length - 1]
  }

  blocks (fromSeq: number, limit: number): Block[] {
    return this.chain.slice(Math.max(0, fromSeq), Math.max(0, fromSeq) + Math.max(0, limit))
  }

  private follows (block: Block): void {
    const max = this.chain.length - 1
    if (block.seq !== max + 1) throw new PaymentError('LEDGER_INVALID', `block ${block.seq} does not follow the chain's head ${max}`)
  }

  append (block: Block): void {
    this.follows(block)
    this.put('chain', chainKey(block.seq), block)
  }

  settlement (receipt: string): SettlementRow | undefined {
    return this.get('settlements', receipt)
  }

  settlementAt (commitment: string, from: number): SettlementRow | undefined {
    const receipt = this.byRange.get(`${commitment}:${from}`)
    return receipt === undefined ? undefined : this.settlement(receipt)
  }

  lastSettlement (commitment: string): SettlementRow | undefined {
    return this.furthest.get(commitment)
  }

  recent (limit: number): SettlementRow[] {
    const out: SettlementRow[] = []
    for (let seq = this.chain.length - 1; seq >= 0 && out.length < limit; seq--) {
      const b = this.chain[seq]!
      if ((b.kind === 'credit' || b.kind === 'debit') && b.receipt !== null) {
        const r = this.settlement(b.receipt)
        if (r !== undefined && r.seq === seq) out.push(r)
      }
    }
    return out
  }

  pending (): SettlementRow[] {
    return [...this.waiting].map(r => this.settlement(r)!).sort((a, b) => a.seq - b.seq)
  }

  settle (block: Block, row: SettlementRow, advance?: { commitment: string, to: number, preimage: string }): void {
    this.follows(block)
    if (this.settlement(row.receipt) !== undefined || this.byRange.has(`${row.commitment}:${row.from}`)) throw new PaymentError('LEDGER_INVALID', 'a settlement of that receipt or token range exists')
    const session = advance === undefined ? undefined : this.session(advance.commitment)
    if (advance !== undefined && (session === undefined || session.settled >= advance.to)) throw new PaymentError('PAYMENT_INVALID', 'that session is already settled past this receipt')
    this.put('chain', chainKey(block.seq), block)
    this.put('settlements', row.receipt, row)
    if (row.theirs !== undefined) this.remember(row.theirs)
    if (advance !== undefined) this.put('sessions', advance.commitment, { ...session!, settled: advance.to, preimage: advance.preimage })
  }

  agreed (receipt: string, theirs: Block): void {
    const row = this.settlement(receipt)
    if (row !== undefined && row.theirs === undefined) this.put('settlements', receipt, { ...row, theirs })
    this.remember(theirs)
  }

  mint (block: Block, attestation: string, epoch: number): void {
    if (this.minted(attestation)) throw new PaymentError('PAYMENT_INVALID', 'that attestation minted already')
    this.follows(block)
    this.put('chain', chainKey(block.seq), block)
    this.put('mints', attestation, { seq: block.seq, epoch, amount: block.amount })
  }

  minted (attestation: string): boolean {
    return this.get('mints', attestation) !== undefined
  }

  mintedIn (epoch: number): number {
    return this.mintedBy.get(epoch) ?? 0
  }

  session (commitment: string): SessionRow | undefined {
    return this.get('sessions', commitment)
  }

  addSession (row: SessionRow): void {
    if (this.session(row.commitment) === undefined) this.put('sessions', row.commitment, { ...row })
  }

  seen (account: string, seq: number): Block | undefined {
    return this.get('seen', `${account}/${seq}`)?.block
  }

  remember (block: Block): void {
    const key = `${block.account}/${block.seq}`
    if (this.get('seen', key) !== undefined) return
    this.put('seen', key, { block, at: Date.now() })
    const seen = this.t.get('seen')!
    const max = this.options.maxSeen ?? 20_000
    if (seen.size > max) for (const old of [...seen.keys()].slice(0, Math.ceil(max / 10))) this.put('seen', old, undefined)
  }

  latest (account: string): Block | undefined {
    return this.latestSeen.get(account)
  }

  fork (account: string): { a: Block, b: Block } | undefined {
    return this.get('forks', account)
  }

  addFork (account: string, a: Block, b: Block): void {
    if (this.fork(account) === undefined) this.put('forks', account, { a, b })
  }

  forks (): string[] {
    return [...this.t.get('forks')!.keys()]
  }

  refusal (account: string): { why: string, proof: string } | undefined {
    return this.get('refusals', account)
  }

  addRefusal (account: string, why: string, proof: string): void {
    if (this.refusal(account) === undefined) this.put('refusals', account, { why, proof })
  }

  addSlash (proof: string, account: string, amount: number): boolean {
    if (this.get('slashes', proof) !== undefined) return false
    this.put('slashes', proof, { account, amount })
    return true
  }

  slashed (account: string): number {
    return this.slashedBy.get(account) ?? 0
  }

  totals (): LedgerTotals {
    const s = this.sums
    return { earned: s.earned, spent: s.spent, minted: s.minted, slashed: s.slashed, blocks: this.chain.length, payeeSettlements: s.payee, payerSettlements: s.payer }
  }

  close (): void {
    if (this.closed) return
    this.closed = true
    void this.flush().catch(() => {})
  }
}

/**
 * The ledger in SQLite (better-sqlite3): WAL journal, synchronous=FULL, and one transaction per
 * settlement, so a crash at any point (kill -9, power loss) leaves every settlement whole or absent,
 * never half-written, and a retried one is found, not written twice (a receipt and a (commitment,
 * from) range are unique). The schema is plain enough to carry over to SQLite-on-OPFS in a browser.
 */
import { mkdirSync } from 'node:fs'
import { dirname } from 'node:path'
import Database from 'better-sqlite3'
import { PaymentError } from '../util/errors.ts'
import { type Block, blockHash as blockHashOf, parseBlock } from './block.ts'
import type { LedgerStore, LedgerTotals, SessionRow, SettlementRow } from './store.ts'

const SCHEMA = `
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS chain (seq INTEGER PRIMARY KEY, hash TEXT NOT NULL UNIQUE, kind TEXT NOT NULL, amount INTEGER NOT NULL, block TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS settlements (
  receipt TEXT PRIMARY KEY, commitment TEXT NOT NULL, from_tokens INTEGER NOT NULL, to_tokens INTEGER NOT NULL,
  role TEXT NOT NULL, counterparty TEXT NOT NULL, amount INTEGER NOT NULL, mine TEXT NOT NULL, seq INTEGER NOT NULL,
  theirs TEXT, detail TEXT NOT NULL, at INTEGER NOT NULL, UNIQUE (commitment, from_tokens));
CREATE INDEX IF NOT EXISTS settlements_pending ON settlements (role) WHERE theirs IS NULL;
CREATE TABLE IF NOT EXISTS sessions (commitment TEXT PRIMARY KEY, session TEXT NOT NULL, consumer TEXT NOT NULL, body TEXT NOT NULL,
  settled INTEGER NOT NULL, preimage TEXT NOT NULL, at INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS seen (account TEXT NOT NULL, seq INTEGER NOT NULL, hash TEXT NOT NULL, block TEXT NOT NULL, at INTEGER NOT NULL, PRIMARY KEY (account, seq));
CREATE TABLE IF NOT EXISTS forks (account TEXT PRIMARY KEY, a TEXT NOT NULL, b TEXT NOT NULL, at INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS mints (attestation TEXT PRIMARY KEY, seq INTEGER NOT NULL, epoch INTEGER NOT NULL, amount INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS mints_epoch ON mints (epoch);
CREATE TABLE IF NOT EXISTS refusals (account TEXT PRIMARY KEY, why TEXT NOT NULL, proof TEXT NOT NULL, at INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS slashes (proof TEXT PRIMARY KEY, account TEXT NOT NULL, amount INTEGER NOT NULL, at INTEGER NOT NULL);
`

/** what one node remembers of other accounts' blocks (witnessing), at most */
const MAX_SEEN = 200_000

interface SettlementRecord {
  receipt: string, commitment: string, from_tokens: number, to_tokens: number, role: 'payer' | 'payee', counterparty: string,
  amount: number, mine: string, seq: number, theirs: string | null, detail: string, at: number
}

function toRow (r: SettlementRecord): SettlementRow {
  return {
    receipt: r.receipt, commitment: r.commitment, from: r.from_tokens, to: r.to_tokens, role: r.role, counterparty: r.counterparty, amount: r.amount,
    mine: r.mine, seq: r.seq, theirs: r.theirs === null ? undefined : parseBlock(JSON.parse(r.theirs)), detail: r.detail, at: r.at
  }
}

export class SqliteStore implements LedgerStore {
  private readonly db: Database.Database
  private readonly q

  /** `file` = ':memory:' for a ledger that lasts as long as the process */
  constructor (readonly location: string) {
    if (location !== ':memory:') mkdirSync(dirname(location), { recursive: true, mode: 0o700 })
    const db = new Database(location)
    db.pragma('journal_mode = WAL')
    db.pragma('synchronous = FULL')
    db.pragma('busy_timeout = 5000')
    db.exec(SCHEMA)
    this.db = db
    this.q = {
      meta: db.prepare<[string], { value: string }>('SELECT value FROM meta WHERE key = ?'),
      setMeta: db.prepare('INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value'),
      head: db.prepare<[], { block: string }>('SELECT block FROM chain ORDER BY seq DESC LIMIT 1'),
      blocks: db.prepare<[number, number], { block: string }>('SELECT block FROM chain WHERE seq >= ? ORDER BY seq LIMIT ?'),
      append: db.prepare('INSERT INTO chain (seq, hash, kind, amount, block) VALUES (?, ?, ?, ?, ?)'),
      maxSeq: db.prepare<[], { seq: number | null }>('SELECT MAX(seq) AS seq FROM chain'),
      settlement: db.prepare<[string], SettlementRecord>('SELECT * FROM settlements WHERE receipt = ?'),
      settlementAt: db.prepare<[string, number], SettlementRecord>('SELECT * FROM settlements WHERE commitment = ? AND from_tokens = ?'),
      lastSettlement: db.prepare<[string], SettlementRecord>("SELECT * FROM settlements WHERE commitment = ? AND role = 'payee' ORDER BY to_tokens DESC LIMIT 1"),
      insertMint: db.prepare('INSERT INTO mints (attestation, seq, epoch, amount) VALUES (?, ?, ?, ?)'),
      minted: db.prepare<[string], { seq: number }>('SELECT seq FROM mints WHERE attestation = ?'),
      mintedIn: db.prepare<[number], { total: number | null }>('SELECT SUM(amount) AS total FROM mints WHERE epoch = ?'),
      recent: db.prepare<[number], SettlementRecord>('SELECT * FROM settlements ORDER BY seq DESC LIMIT ?'),
      pending: db.prepare<[], SettlementRecord>("SELECT * FROM settlements WHERE role = 'payer' AND theirs IS NULL ORDER BY seq"),
      insertSettlement: db.prepare(`INSERT INTO settlements (receipt, commitment, from_tokens, to_tokens, role, counterparty, amount, mine, seq, theirs, detail, at)
        VALUES (@receipt, @commitment, @from_tokens, @to_tokens, @role, @counterparty, @amount, @mine, @seq, @theirs, @detail, @at)`),
      agreed: db.prepare('UPDATE settlements SET theirs = ? WHERE receipt = ? AND theirs IS NULL'),
      session: db.prepare<[string], SessionRow>('SELECT commitment, session, consumer, body, settled, preimage FROM sessions WHERE commitment = ?'),
      addSession: db.prepare('INSERT OR IGNORE INTO sessions (commitment, session, consumer, body, settled, preimage, at) VALUES (?, ?, ?, ?, ?, ?, ?)'),
      advance: db.prepare('UPDATE sessions SET settled = ?, preimage = ? WHERE commitment = ? AND settled < ?'),
      seen: db.prepare<[string, number], { block: string }>('SELECT block FROM seen WHERE account = ? AND seq = ?'),
      latest: db.prepare<[string], { block: string }>('SELECT block FROM seen WHERE account = ? ORDER BY seq DESC LIMIT 1'),
      remember: db.prepare('INSERT OR IGNORE INTO seen (account, seq, hash, block, at) VALUES (?, ?, ?, ?, ?)'),
      seenCount: db.prepare<[], { n: number }>('SELECT COUNT(*) AS n FROM seen'),
      pruneSeen: db.prepare('DELETE FROM seen WHERE rowid IN (SELECT rowid FROM seen ORDER BY at LIMIT ?)'),
      fork: db.prepare<[string], { a: string, b: string }>('SELECT a, b FROM forks WHERE account = ?'),
      addFork: db.prepare('INSERT OR IGNORE INTO forks (account, a, b, at) VALUES (?, ?, ?, ?)'),
      forks: db.prepare<[], { account: string }>('SELECT account FROM forks'),
      refusal: db.prepare<[string], { why: string, proof: string }>('SELECT why, proof FROM refusals WHERE account = ?'),
      addRefusal: db.prepare('INSERT OR IGNORE INTO refusals (account, why, proof, at) VALUES (?, ?, ?, ?)'),
      addSlash: db.prepare('INSERT OR IGNORE INTO slashes (proof, account, amount, at) VALUES (?, ?, ?, ?)'),
      slashed: db.prepare<[string], { total: number | null }>('SELECT SUM(amount) AS total FROM slashes WHERE account = ?'),
      totals: db.prepare<[], { earned: number | null, spent: number | null, minted: number | null, slashed: number | null, blocks: number, credits: number, debits: number }>(`SELECT
        SUM(CASE WHEN kind = 'credit' THEN amount END) AS earned, -SUM(CASE WHEN kind = 'debit' THEN amount END) AS spent,
        COUNT(CASE WHEN kind = 'credit' THEN 1 END) AS credits, COUNT(CASE WHEN kind = 'debit' THEN 1 END) AS debits,
        SUM(CASE WHEN kind IN ('mint', 'open') THEN amount END) AS minted, -SUM(CASE WHEN kind = 'slash' THEN amount END) AS slashed, COUNT(*) AS blocks FROM chain`)
    }
  }

  meta (key: string): string | undefined {
    return this.q.meta.get(key)?.value
  }

  setMeta (key: string, value: string): void {
    this.q.setMeta.run(key, value)
  }

  head (): Block | undefined {
    const r = this.q.head.get()
    return r === undefined ? undefined : parseBlock(JSON.parse(r.block))
  }

  blocks (fromSeq: number, limit: number): Block[] {
    return this.q.blocks.all(fromSeq, limit).map(r => parseBlock(JSON.parse(r.block)))
  }

  append (block: Block): void {
    this.db.transaction(() => { this.appendRow(block) }).immediate()
  }

  private appendRow (block: Block): void {
    const max = this.q.maxSeq.get()?.seq ?? -1
    if (block.seq !== max + 1) throw new PaymentError('LEDGER_INVALID', `block ${block.seq} does not follow the chain's head ${max}`)
    this.q.append.run(block.seq, blockHashOf(block), block.kind, block.amount, JSON.stringify(block))
  }

  settlement (receipt: string): SettlementRow | undefined {
    const r = this.q.settlement.get(receipt)
    return r === undefined ? undefined : toRow(r)
  }

  settlementAt (commitment: string, from: number): SettlementRow | undefined {
    const r = this.q.settlementAt.get(commitment, from)
    return r === undefined ? undefined : toRow(r)
  }

  lastSettlement (commitment: string): SettlementRow | undefined {
    const r = this.q.lastSettlement.get(commitment)
    return r === undefined ? undefined : toRow(r)
  }

  mint (block: Block, attestation: string, epoch: number): void {
    this.db.transaction(() => {
      if (this.q.minted.get(attestation) !== undefined) throw new PaymentError('PAYMENT_INVALID', 'that attestation minted already')
      this.appendRow(block)
      this.q.insertMint.run(attestation, block.seq, epoch, block.amount)
    }).immediate()
  }

  minted (attestation: string): boolean {
    return this.q.minted.get(attestation) !== undefined
  }

  mintedIn (epoch: number): number {
    return this.q.mintedIn.get(epoch)?.total ?? 0
  }

  recent (limit: number): SettlementRow[] {
    return this.q.recent.all(limit).map(toRow)
  }

  pending (): SettlementRow[] {
    return this.q.pending.all().map(toRow)
  }

  settle (block: Block, row: SettlementRow, advance?: { commitment: string, to: number, preimage: string }): void {
    this.db.transaction(() => {
      this.appendRow(block)
      this.q.insertSettlement.run({
        receipt: row.receipt, commitment: row.commitment, from_tokens: row.from, to_tokens: row.to, role: row.role, counterparty: row.counterparty,
        amount: row.amount, mine: row.mine, seq: row.seq, theirs: row.theirs === undefined ? null : JSON.stringify(row.theirs), detail: row.detail, at: row.at
      })
      if (row.theirs !== undefined) this.rememberRow(row.theirs)
      if (advance !== undefined && this.q.advance.run(advance.to, advance.preimage, advance.commitment, advance.to).changes !== 1) {
        throw new PaymentError('PAYMENT_INVALID', 'that session is already settled past this receipt')
      }
    }).immediate()
  }

  agreed (receipt: string, theirs: Block): void {
    this.db.transaction(() => {
      this.q.agreed.run(JSON.stringify(theirs), receipt)
      this.rememberRow(theirs)
    }).immediate()
  }

  session (commitment: string): SessionRow | undefined {
    return this.q.session.get(commitment)
  }

  addSession (row: SessionRow): void {
    this.q.addSession.run(row.commitment, row.session, row.consumer, row.body, row.settled, row.preimage, Date.now())
  }

  seen (account: string, seq: number): Block | undefined {
    const r = this.q.seen.get(account, seq)
    return r === undefined ? undefined : parseBlock(JSON.parse(r.block))
  }

  remember (block: Block): void {
    this.rememberRow(block)
  }

  latest (account: string): Block | undefined {
    const r = this.q.latest.get(account)
    return r === undefined ? undefined : parseBlock(JSON.parse(r.block))
  }

  private rememberRow (block: Block): void {
    this.q.remember.run(block.account, block.seq, blockHashOf(block), JSON.stringify(block), Date.now())
    if (Math.random() < 0.001 && this.q.seenCount.get()!.n > MAX_SEEN) this.q.pruneSeen.run(MAX_SEEN / 10)
  }

  fork (account: string): { a: Block, b: Block } | undefined {
    const r = this.q.fork.get(account)
    return r === undefined ? undefined : { a: parseBlock(JSON.parse(r.a)), b: parseBlock(JSON.parse(r.b)) }
  }

  addFork (account: string, a: Block, b: Block): void {
    this.q.addFork.run(account, JSON.stringify(a), JSON.stringify(b), Date.now())
  }

  forks (): string[] {
    return this.q.forks.all().map(r => r.account)
  }

  refusal (account: string): { why: string, proof: string } | undefined {
    return this.q.refusal.get(account)
  }

  addRefusal (account: string, why: string, proof: string): void {
    this.q.addRefusal.run(account, why, proof, Date.now())
  }

  addSlash (proof: string, account: string, amount: number): boolean {
    return this.q.addSlash.run(proof, account, amount, Date.now()).changes === 1
  }

  slashed (account: string): number {
    return this.q.slashed.get(account)?.total ?? 0
  }

  totals (): LedgerTotals {
    const t = this.q.totals.get()!
    return { earned: t.earned ?? 0, spent: t.spent ?? 0, minted: t.minted ?? 0, slashed: t.slashed ?? 0, blocks: t.blocks, payeeSettlements: t.credits, payerSettlements: t.debits }
  }

  async flush (): Promise<void> {}

  close (): void {
    if (this.db.open) this.db.close()
  }
}

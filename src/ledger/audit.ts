/**
 * Checking a whole ledger (`gridllm credits verify`): every block as anyone can check it
 * (chain-check.ts), and what only the account's own books hold: every debit and credit has its
 * settlement, every credit the payer's signed debit for the same receipt and amount, every mint a
 * debit settled here; every settlement row names a block of the chain, each receipt settled once.
 */
import { blockHash, verifyBlockSignature } from './block.ts'
import { ChainChecker, mintDebit } from './chain-check.ts'
import type { LedgerStore } from './store.ts'

export interface ChainReport {
  readonly ok: boolean
  readonly account: string | undefined
  readonly blocks: number
  readonly settlements: number
  /** payer settlements whose agreement has not come yet (not an error) */
  readonly pending: number
  readonly problems: readonly string[]
}

export async function auditLedger (store: LedgerStore): Promise<ChainReport> {
  const problems: string[] = []
  const account = store.meta('account')
  const checker = new ChainChecker(account ?? '')
  let count = 0
  for (let from = 0; ; from += 512) {
    const blocks = store.blocks(from, 512)
    for (const b of blocks) {
      const at = `block ${b.seq}`
      count++
      const own = await checker.check(b)
      problems.push(...own)
      // what only this account's books hold: the settlement of every debit and credit, the debit a mint names
      switch (b.kind) {
        case 'debit': {
          const row = store.settlement(b.receipt ?? '')
          if (row === undefined || row.mine !== blockHash(b)) problems.push(`${at}: its settlement is missing`)
          break
        }
        case 'credit': {
          const row = store.settlement(b.receipt ?? '')
          const debit = row?.theirs
          if (row === undefined || row.role !== 'payee' || row.mine !== blockHash(b)) { problems.push(`${at}: its settlement is missing`); break }
          if (debit === undefined || blockHash(debit) !== b.link) { problems.push(`${at}: the payer's debit is missing`); break }
          if (!await verifyBlockSignature(debit)) problems.push(`${at}: the payer's debit is not signed by the payer`)
          if (debit.account !== b.counterparty || debit.counterparty !== b.account || debit.receipt !== b.receipt || debit.amount !== -b.amount) problems.push(`${at}: the payer's debit does not match`)
          break
        }
        case 'mint': {
          if (own.length > 0) break
          const paid = store.settlement(mintDebit(b).receipt ?? '')
          if (paid === undefined || paid.role !== 'payee' || paid.counterparty !== b.counterparty) problems.push(`${at}: the debit it names was not settled with this account`)
          break
        }
      }
    }
    if (blocks.length < 512) break
  }
  if (count === 0) problems.push('the ledger has no blocks')
  const settlements = store.recent(Number.MAX_SAFE_INTEGER)
  for (const s of settlements) {
    const b = store.blocks(s.seq, 1)[0]
    if (b === undefined || blockHash(b) !== s.mine) problems.push(`settlement ${s.receipt.slice(0, 12)}: names no block of the chain`)
  }
  const pending = settlements.filter(s => s.role === 'payer' && s.theirs === undefined).length
  for (const s of settlements.filter(s => s.role === 'payer' && s.theirs !== undefined)) {
    const c = s.theirs!
    if (!await verifyBlockSignature(c) || c.link !== s.mine || c.receipt !== s.receipt || c.amount !== s.amount || c.account !== s.counterparty) problems.push(`settlement ${s.receipt.slice(0, 12)}: the payee's agreement does not hold`)
  }
  return { ok: problems.length === 0, account, blocks: count, settlements: settlements.length, pending, problems }
}

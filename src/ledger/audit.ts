/**
 * Checking a whole ledger (`gridllm credits verify`): every block signed by the account, numbered
 * from 0 without gaps, each naming its predecessor's hash, each balance the one before plus the
 * amount; the grant earned by its proof of work; every debit paying exactly its receipt, whose
 * commitment the account signed and whose preimage hashes to the commitment's root; every credit
 * backed by the payer's signed debit for the same receipt and amount; every mint backed by its
 * attestation and a debit settled here, once per attestation, within the cap of its epoch; every
 * settlement row naming a block of the chain, each receipt settled once.
 */
import { type MintData, epochOf, mintProblem } from './attest.ts'
import { blockHash, grantBits, verifyBlockSignature } from './block.ts'
import { commitmentId, hashTimes, parseReceipt, receiptAmount, receiptHash, verifyCommitment } from './payword.ts'
import { PROTOCOL, grantFor } from './policy.ts'
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
  let prev: { hash: string, balance: number } | undefined
  let count = 0
  /** per commitment: the last preimage settled and its token count */
  const known = new Map<string, { tokens: number, preimage: string }>()
  /** minting: µcr per epoch, attestations minted for, and the time of the last mint */
  const mintedIn = new Map<number, number>()
  const mints = new Set<string>()
  let lastMintAt = 0
  let opened = 0
  for (let from = 0; ; from += 512) {
    const blocks = store.blocks(from, 512)
    for (const b of blocks) {
      const at = `block ${b.seq}`
      count++
      if (b.seq !== from + blocks.indexOf(b)) problems.push(`${at}: out of sequence`)
      if (b.account !== account) problems.push(`${at}: belongs to ${b.account}, not ${account}`)
      if (!await verifyBlockSignature(b)) problems.push(`${at}: the signature does not hold`)
      if ((b.prev ?? undefined) !== prev?.hash) problems.push(`${at}: does not name the previous block's hash`)
      if (b.balance !== (prev?.balance ?? 0) + b.amount) problems.push(`${at}: balance ${b.balance} is not ${prev?.balance ?? 0} + ${b.amount}`)
      switch (b.kind) {
        case 'open': {
          const d = b.data as { bits?: unknown, nonce?: unknown } | null
          const bits = typeof d?.bits === 'number' ? d.bits : 0
          if (b.seq !== 0) problems.push(`${at}: an open block after the first`)
          opened = b.at
          if (bits > 0 && (typeof d?.nonce !== 'number' || grantBits(b.account, d.nonce) < bits)) problems.push(`${at}: the grant's proof of work does not hold`)
          if (b.amount !== grantFor(bits)) problems.push(`${at}: a grant of ${b.amount} for ${bits} bits of work`)
          break
        }
        case 'debit': {
          let r
          try { r = parseReceipt(b.data) } catch (err) { problems.push(`${at}: ${(err as Error).message}`); break }
          const id = commitmentId(r.commitment)
          if (b.receipt !== receiptHash(r)) problems.push(`${at}: names another receipt`)
          if (r.commitment.consumer !== b.account || r.commitment.server !== b.counterparty) problems.push(`${at}: the receipt is not between these accounts`)
          if (b.amount !== -receiptAmount(r)) problems.push(`${at}: pays ${-b.amount}, the receipt is worth ${receiptAmount(r)}`)
          if (b.balance < -PROTOCOL.maxDebt) problems.push(`${at}: past the debt limit`)
          if (!await verifyCommitment(r.commitment)) problems.push(`${at}: the commitment's signature does not hold`)
          const base = known.get(id)
          if (base !== undefined && base.tokens !== r.from) problems.push(`${at}: settles tokens from ${r.from}, the last settlement ended at ${base.tokens}`)
          const start = base ?? { tokens: 0, preimage: r.commitment.root }
          if (hashTimes(r.preimage, r.to - start.tokens) !== start.preimage) problems.push(`${at}: the preimage does not pay for ${r.to} tokens`)
          known.set(id, { tokens: r.to, preimage: r.preimage })
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
        case 'slash':
          if (b.amount > 0) problems.push(`${at}: a slash that adds`)
          break
        case 'mint': {
          const problem = await mintProblem(b)
          if (problem !== undefined) { problems.push(`${at}: ${problem}`); break }
          const epoch = epochOf(b.at)
          const total = (mintedIn.get(epoch) ?? 0) + b.amount
          mintedIn.set(epoch, total)
          if (total > PROTOCOL.mintCapPerEpoch) problems.push(`${at}: ${total} µcr minted in epoch ${epoch}, past the cap of ${PROTOCOL.mintCapPerEpoch}`)
          if (mints.has(b.receipt!)) problems.push(`${at}: mints a second time for one attestation`)
          mints.add(b.receipt!)
          if (b.at < lastMintAt || b.at < opened) problems.push(`${at}: a mint dated before the account's last mint or its opening`)
          lastMintAt = b.at
          const paid = store.settlement((b.data as MintData).debit.receipt ?? '')
          if (paid === undefined || paid.role !== 'payee' || paid.counterparty !== b.counterparty) problems.push(`${at}: the debit it names was not settled with this account`)
          break
        }
      }
      prev = { hash: blockHash(b), balance: b.balance }
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

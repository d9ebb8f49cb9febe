/**
 * Checking an account's chain from its blocks alone, as anyone can: the account's own `credits
 * verify` (audit.ts adds what only its own books hold) and a payee that reads the blocks a payer
 * signed since the last one it saw. Block by block: signed by the account, numbered without gaps,
 * each naming its predecessor's hash, each balance the one before plus the amount; the grant earned
 * by its proof of work; every debit paying exactly its receipt, whose commitment the account signed
 * and whose preimages follow on from the last settlement of that commitment; every mint backed by
 * its attestation and the consumer's debit, once per attestation, within the cap of its epoch and
 * dated in order. A credit's backing (the payer's debit) is in the payer's chain, not here.
 */
import { type MintData, epochOf, mintProblem } from './attest.ts'
import { type Block, blockHash, grantBits, verifyBlockSignature } from './block.ts'
import { commitmentId, hashTimes, parseReceipt, receiptAmount, receiptHash, verifyCommitment } from './payword.ts'
import { PROTOCOL, grantFor } from './policy.ts'

export class ChainChecker {
  private prev: { seq: number, hash: string, balance: number } | undefined
  /** per commitment: the last preimage settled and its token count */
  private readonly settled = new Map<string, { tokens: number, preimage: string }>()
  /** minting: µcr per epoch, the attestations minted for, the time of the last mint */
  private readonly mintedIn = new Map<number, number>()
  private readonly mints = new Set<string>()
  private lastMintAt = 0
  private opened = 0

  /**
   * `account`: whose chain; `after`: the block before the first one to be checked (a payee's last
   * seen block of a payer), none to check from block 0. Settlement state and mint totals start
   * from what the checker sees, so a segment is checked as far as a segment can be.
   */
  constructor (readonly account: string, after?: Block) {
    if (after !== undefined) {
      this.prev = { seq: after.seq, hash: blockHash(after), balance: after.balance }
      this.opened = after.seq === 0 ? after.at : 0
      this.note(after)
    }
  }

  /** The block's problems (empty if it holds); the next block is checked against it either way. */
  async check (b: Block): Promise<string[]> {
    const problems: string[] = []
    const at = `block ${b.seq}`
    const prev = this.prev
    if (b.seq !== (prev === undefined ? 0 : prev.seq + 1)) problems.push(`${at}: out of sequence`)
    if (b.account !== this.account) problems.push(`${at}: belongs to ${b.account}, not ${this.account}`)
    if (!await verifyBlockSignature(b)) problems.push(`${at}: the signature does not hold`)
    if ((b.prev ?? undefined) !== prev?.hash) problems.push(`${at}: does not name the previous block's hash`)
    if (b.balance !== (prev?.balance ?? 0) + b.amount) problems.push(`${at}: balance ${b.balance} is not ${prev?.balance ?? 0} + ${b.amount}`)
    for (const p of await this.kindProblems(b)) problems.push(`${at}: ${p}`)
    this.prev = { seq: b.seq, hash: blockHash(b), balance: b.balance }
    return problems
  }

  private async kindProblems (b: Block): Promise<string[]> {
    const problems: string[] = []
    switch (b.kind) {
      case 'open': {
        const d = b.data as { bits?: unknown, nonce?: unknown } | null
        const bits = typeof d?.bits === 'number' ? d.bits : 0
        if (b.seq !== 0) problems.push('an open block after the first')
        this.opened = b.at
        if (bits > 0 && (typeof d?.nonce !== 'number' || grantBits(b.account, d.nonce) < bits)) problems.push('the grant\'s proof of work does not hold')
        if (b.amount !== grantFor(bits)) problems.push(`a grant of ${b.amount} for ${bits} bits of work`)
        break
      }
      case 'debit': {
        let r
        try { r = parseReceipt(b.data) } catch (err) { problems.push((err as Error).message); break }
        const id = commitmentId(r.commitment)
        if (b.receipt !== receiptHash(r)) problems.push('names another receipt')
        if (r.commitment.consumer !== b.account || r.commitment.server !== b.counterparty) problems.push('the receipt is not between these accounts')
        if (b.amount !== -receiptAmount(r)) problems.push(`pays ${-b.amount}, the receipt is worth ${receiptAmount(r)}`)
        if (b.balance < -PROTOCOL.maxDebt) problems.push('past the debt limit')
        if (!await verifyCommitment(r.commitment)) problems.push('the commitment\'s signature does not hold')
        const base = this.settled.get(id)
        if (base !== undefined && base.tokens !== r.from) problems.push(`settles tokens from ${r.from}, the last settlement ended at ${base.tokens}`)
        // a segment may start after a commitment's first settlements: then only its own preimages are checked
        const start = base ?? (r.from === 0 || this.prev === undefined ? { tokens: 0, preimage: r.commitment.root } : undefined)
        if (start !== undefined && hashTimes(r.preimage, r.to - start.tokens) !== start.preimage) problems.push(`the preimage does not pay for ${r.to} tokens`)
        this.settled.set(id, { tokens: r.to, preimage: r.preimage })
        break
      }
      case 'credit':
        if (b.amount <= 0 || b.link === null || b.receipt === null) problems.push('a credit must add, and name the payer\'s debit and receipt')
        break
      case 'slash':
        if (b.amount > 0) problems.push('a slash that adds')
        break
      case 'mint': {
        const problem = await mintProblem(b)
        if (problem !== undefined) { problems.push(problem); break }
        const epoch = epochOf(b.at)
        const total = (this.mintedIn.get(epoch) ?? 0) + b.amount
        if (total > PROTOCOL.mintCapPerEpoch) problems.push(`${total} µcr minted in epoch ${epoch}, past the cap of ${PROTOCOL.mintCapPerEpoch}`)
        if (this.mints.has(b.receipt!)) problems.push('mints a second time for one attestation')
        if (b.at < this.lastMintAt || b.at < this.opened) problems.push('a mint dated before the account\'s last mint or its opening')
        this.note(b)
        break
      }
    }
    return problems
  }

  /** Counts a mint block (checked, or the one a segment starts after). */
  private note (b: Block): void {
    if (b.kind !== 'mint') return
    const epoch = epochOf(b.at)
    this.mintedIn.set(epoch, (this.mintedIn.get(epoch) ?? 0) + b.amount)
    this.mints.add(b.receipt!)
    this.lastMintAt = Math.max(this.lastMintAt, b.at)
  }
}

/** The debit a mint block names (for checks that need the account's own settlements). */
export function mintDebit (b: Block): Block {
  return (b.data as MintData).debit
}

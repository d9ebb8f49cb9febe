/**
 * One account's books: its chain of blocks, the settlements it is a party to, and what it knows of
 * other accounts (their blocks it has seen, fork proofs, slashes). Blocks are appended one at a
 * time (signing is asynchronous; the store checks each block follows the head), and a settlement's
 * block and row are written in one transaction, so a retried settlement finds the first one.
 */
import { type AccountHead, type Signer } from '../net/index.ts'
import { PaymentError } from '../util/errors.ts'
import { logger } from '../util/log.ts'
import { type Block, type BlockKind, type UnsignedBlock, blockHash, proveWork, signBlock, verifyBlockSignature } from './block.ts'
import { type Attestation, attestationId, epochOf, mintFor, mintProblem } from './attest.ts'
import { type Receipt, commitmentId, receiptAmount, receiptHash } from './payword.ts'
import { PROTOCOL, grantFor } from './policy.ts'
import type { LedgerStore, LedgerTotals, SettlementRow } from './store.ts'

const log = logger('ledger')

export interface LedgerOptions {
  readonly store: LedgerStore
  readonly signer: Signer
  /** a new identity's proof of work for its grant, in bits (0: no grant); see policy.ts */
  readonly grantBits?: number
}

/** The account as people see it: its chain's totals (minted: the grant and audited-work mints), and more. */
export interface LedgerSummary extends LedgerTotals {
  readonly peer: string
  /** µcr */
  readonly balance: number
  /** settlements this account paid that await the payee's agreement */
  readonly pending: number
  readonly head: AccountHead
}

export class Ledger {
  private tail: Promise<unknown> = Promise.resolve()

  private constructor (readonly store: LedgerStore, readonly signer: Signer) {}

  static async open (options: LedgerOptions): Promise<Ledger> {
    const { store, signer } = options
    const owner = store.meta('account')
    if (owner !== undefined && owner !== signer.peerId) throw new PaymentError('LEDGER_INVALID', `${store.location} is the ledger of ${owner}, not of ${signer.peerId}`)
    const ledger = new Ledger(store, signer)
    if (store.head() === undefined) {
      const bits = options.grantBits ?? 0
      const nonce = bits > 0 ? proveWork(signer.peerId, bits) : 0
      const grant = grantFor(bits)
      await ledger.append({ kind: 'open', counterparty: null, amount: grant, receipt: null, link: null, data: { bits, nonce } })
      store.setMeta('account', signer.peerId)
      log('new account %s with a grant of %d µcr', signer.peerId.slice(-8), grant)
    }
    return ledger
  }

  get account (): string {
    return this.signer.peerId
  }

  head (): Block {
    return this.store.head()!
  }

  get balance (): number {
    return this.head().balance
  }

  headInfo (): AccountHead {
    const h = this.head()
    return { seq: h.seq, hash: blockHash(h), balance: h.balance }
  }

  summary (): LedgerSummary {
    return { peer: this.account, balance: this.balance, ...this.store.totals(), pending: this.store.pending().length, head: this.headInfo() }
  }

  /**
   * Runs `fn` after every append before it (one block at a time in this process). Another process
   * sharing the account's data directory may append between our read of the head and our write:
   * the store refuses the block, and `fn` runs again on the new head.
   */
  private async serial<T> (fn: () => Promise<T>): Promise<T> {
    const retrying = async (): Promise<T> => {
      for (let attempt = 1; ; attempt++) {
        try {
          const out = await fn()
          // what this account signed is durable before anyone sees it: a block lost in a crash
          // after it left would be signed again, differently, with the same seq (a fork)
          await this.store.flush()
          return out
        } catch (err) {
          if (!(err instanceof PaymentError && err.code === 'LEDGER_INVALID' && err.message.includes('does not follow')) || attempt >= 8) throw err
        }
      }
    }
    const run = this.tail.then(retrying, retrying)
    this.tail = run.catch(() => {})
    return await run
  }

  private async sign (fields: Pick<UnsignedBlock, 'kind' | 'counterparty' | 'amount' | 'receipt' | 'link' | 'data'> & { at?: number }, head: Block | undefined): Promise<Block> {
    return await signBlock({
      v: 1, account: this.account, seq: head === undefined ? 0 : head.seq + 1, prev: head === undefined ? null : blockHash(head),
      balance: (head?.balance ?? 0) + fields.amount, at: Date.now(), ...fields
    }, this.signer)
  }

  /** Appends a block with no settlement (open, mint, slash). */
  async append (fields: { kind: BlockKind, counterparty: string | null, amount: number, receipt: string | null, link: string | null, data: unknown }): Promise<Block> {
    return await this.serial(async () => {
      const block = await this.sign(fields, this.store.head())
      this.store.append(block)
      return block
    })
  }

  /**
   * Mints for an attestation of this account's work, paid for by `debit` (the consumer's, from a
   * settlement of the attested session): what it is worth, up to what is left of the epoch's cap.
   * Returns undefined if the cap is reached or the attestation minted already; throws
   * PAYMENT_INVALID if the block would not hold (mintProblem).
   */
  async mint (a: Attestation, debit: Block): Promise<Block | undefined> {
    return await this.serial(async () => {
      const id = attestationId(a)
      if (this.store.minted(id)) return undefined
      const at = Math.max(Date.now(), a.at)
      const epoch = epochOf(at)
      const amount = Math.min(mintFor(a), PROTOCOL.mintCapPerEpoch - this.store.mintedIn(epoch))
      if (amount <= 0) return undefined
      const block = await this.sign({ kind: 'mint', counterparty: a.consumer, amount, receipt: id, link: null, data: { attestation: a, debit }, at }, this.store.head())
      const problem = await mintProblem(block)
      if (problem !== undefined) throw new PaymentError('PAYMENT_INVALID', `cannot mint for that attestation: ${problem}`)
      this.store.mint(block, id, epoch)
      log('minted %d µcr for %d audited tokens of %s', amount, a.tokens, a.served[0].session)
      return block
    })
  }

  // ---- as the payer

  /**
   * Pays a receipt: writes this account's debit and the settlement awaiting its agreement, in one
   * transaction. A receipt already paid returns its first settlement (never a second debit).
   */
  async pay (receipt: Receipt): Promise<SettlementRow> {
    return await this.serial(async () => {
      const hash = receiptHash(receipt)
      const known = this.store.settlement(hash) ?? this.store.settlementAt(commitmentId(receipt.commitment), receipt.from)
      if (known !== undefined) return known
      const amount = receiptAmount(receipt)
      const head = this.store.head()!
      if (head.balance - amount < -PROTOCOL.maxDebt) throw new PaymentError('PAYMENT_REQUIRED', `paying ${amount} µcr would take this account below the debt limit (balance ${head.balance} µcr)`)
      const block = await this.sign({ kind: 'debit', counterparty: receipt.commitment.server, amount: -amount, receipt: hash, link: null, data: receipt }, head)
      const row: SettlementRow = {
        receipt: hash, commitment: commitmentId(receipt.commitment), from: receipt.from, to: receipt.to, role: 'payer', counterparty: receipt.commitment.server,
        amount, mine: blockHash(block), seq: block.seq, theirs: undefined, detail: JSON.stringify(receipt), at: block.at
      }
      this.store.settle(block, row)
      return row
    })
  }

  /** The debit block of one of this account's settlements. */
  blockAt (seq: number): Block {
    const b = this.store.blocks(seq, 1)[0]
    if (b === undefined || b.seq !== seq) throw new PaymentError('LEDGER_INVALID', `no block ${seq} in this ledger`)
    return b
  }

  /** The payee's agreement to a debit: checked (its signature, and that it answers this debit) and kept. */
  async agreed (row: SettlementRow, credit: Block): Promise<void> {
    const problem = await agreementProblem(row, credit)
    if (problem !== undefined) throw new PaymentError('PAYMENT_INVALID', `the agreement of ${row.counterparty.slice(-8)} does not hold: ${problem}`)
    this.store.agreed(row.receipt, credit)
    await this.store.flush()
  }

  // ---- as the payee

  /**
   * Takes a payer's debit (already checked by the caller against the session it pays for): writes
   * this account's credit, the settlement and the session's new settled count in one transaction.
   * A debit already taken returns its first credit.
   */
  async accept (debit: Block, receipt: Receipt): Promise<Block> {
    return await this.serial(async () => {
      const hash = receiptHash(receipt)
      const known = this.store.settlement(hash)
      if (known !== undefined) {
        if (known.role !== 'payee' || known.theirs === undefined || blockHash(known.theirs) !== blockHash(debit)) throw new PaymentError('PAYMENT_INVALID', 'this receipt was already settled')
        return this.blockAt(known.seq)
      }
      const amount = receiptAmount(receipt)
      const block = await this.sign({ kind: 'credit', counterparty: debit.account, amount, receipt: hash, link: blockHash(debit), data: null }, this.store.head())
      const id = commitmentId(receipt.commitment)
      this.store.settle(block, {
        receipt: hash, commitment: id, from: receipt.from, to: receipt.to, role: 'payee', counterparty: debit.account,
        amount, mine: blockHash(block), seq: block.seq, theirs: debit, detail: JSON.stringify(receipt), at: block.at
      }, { commitment: id, to: receipt.to, preimage: receipt.preimage })
      return block
    })
  }

  // ---- what this node knows of others

  /** Another account's balance as far as this node knows (its newest block seen, less the slashes recorded here). */
  knownBalance (account: string): number | undefined {
    const b = this.store.latest(account)
    return b === undefined ? undefined : b.balance - this.store.slashed(account)
  }

  /**
   * Slashes `account` (a server convicted by a checked fraud proof) by the policy's share of its
   * balance as this node knows it: once per proof. Returns the amount, or undefined if that proof already did.
   */
  slash (account: string, proofId: string): number | undefined {
    const known = Math.max(0, this.knownBalance(account) ?? 0)
    const amount = Math.floor(PROTOCOL.slashShare * known)
    if (!this.store.addSlash(proofId, account, amount)) return undefined
    log('slashed %s by %d µcr for proof %s', account.slice(-8), amount, proofId.slice(0, 16))
    return amount
  }

  isRefused (account: string): boolean {
    return this.refusedWhy(account) !== undefined
  }

  /** Why every honest peer refuses `account`, as far as this node knows: a fork proof, or a misconduct proof. */
  refusedWhy (account: string): string | undefined {
    if (this.store.fork(account) !== undefined) return 'it double-spent (a fork proof holds)'
    const r = this.store.refusal(account)
    return r === undefined ? undefined : `its chain breaks the rules (${r.why})`
  }
}

/** Why a payee's credit is not the agreement to a payer's settlement, or undefined if it is. */
export async function agreementProblem (row: SettlementRow, credit: Block): Promise<string | undefined> {
  if (credit.account !== row.counterparty) return 'signed by another account'
  if (credit.kind !== 'credit' || credit.link !== row.mine || credit.receipt !== row.receipt || credit.amount !== row.amount) return 'it does not answer this debit'
  if (!await verifyBlockSignature(credit)) return 'bad signature'
  return undefined
}

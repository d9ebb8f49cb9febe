/**
 * A node's ledger on the network (`/gridllm/ledger/1.0.0`, src/net/ledger-wire.ts).
 *
 * As a payee it takes settlements: a payer's debit block carrying a receipt for a session this node
 * served. The debit must be signed by the payer, pay this node exactly the receipt's worth, settle
 * the session's tokens from where the last settlement stopped, within the commitment's life; the
 * receipt's preimage must hash to what was settled before; the payer's blocks since the last one
 * seen here must check out with it (payer-check.ts: a misconduct proof otherwise). Then the credit, the settlement and the
 * session's settled count are written in one transaction and the credit goes back as the agreement.
 * A settlement already taken is answered with its first credit (retries are safe); anything else
 * is refused and changes nothing.
 *
 * As the server of an audited session it takes the consumer's attestation and mints for it
 * (minter.ts).
 *
 * As a witness it remembers payers' blocks by (account, sequence number): payees send each debit
 * they take to the payer's witnesses (the few servers whose rendezvous hash with the account is
 * highest), so two debits with one sequence number meet somewhere. Two such blocks are a fork
 * proof; whoever finds or receives one (or a misconduct proof) checks it, refuses the account from
 * then on, and tells every server it knows.
 */
import { type Header, type NetNode, type PeerAddress, ledgerRequest, serveLedger } from '../net/index.ts'
import { sha256Hex } from '../util/digest.ts'
import { PaymentError } from '../util/errors.ts'
import { logger } from '../util/log.ts'
import { type Block, blockHash, checkFork, parseBlock, verifyBlockSignature } from './block.ts'
import { parseAttestation } from './attest.ts'
import type { CreditGate } from './gate.ts'
import type { Ledger } from './ledger.ts'
import { Minter } from './minter.ts'
import { MAX_SEGMENT, type Misconduct, checkPayer, misconductProblems } from './payer-check.ts'
import { type Receipt, commitmentId, parseReceipt, receiptAmount, receiptHash, receiptProblem } from './payword.ts'
import { PROTOCOL } from './policy.ts'

const log = logger('ledger:service')

/** witnesses per account */
const WITNESSES = 3

export interface LedgerServiceOptions {
  readonly ledger: Ledger
  readonly node: NetNode
  /** a payee's gate, told of settlements (a server); none for a client */
  readonly gate?: CreditGate
  /** the servers this node knows (witnesses and fork proofs go to them) */
  readonly peers?: () => Promise<readonly PeerAddress[]>
}

export class LedgerService {
  private readonly tasks = new Set<Promise<void>>()
  /** told when a fork or misconduct proof refuses an account here (tests, metrics) */
  onFork: ((account: string) => void) | undefined
  readonly minter: Minter
  /** the gate told of settlements: a server's while it serves (a tab's account serves only sometimes) */
  gate: CreditGate | undefined

  constructor (private readonly options: LedgerServiceOptions) {
    this.minter = new Minter(options.ledger)
    this.gate = options.gate
  }

  get ledger (): Ledger {
    return this.options.ledger
  }

  async start (): Promise<void> {
    await serveLedger(this.options.node, async (peer, h) => await this.answer(peer, h))
  }

  private async answer (peer: string, h: Header): Promise<Header> {
    switch (h.t) {
      case 'settle': return { t: 'agreed', credit: await this.settle(peer, parseBlock(h.debit)) }
      case 'witness': {
        const fork = await this.witness(parseBlock(h.block))
        return fork === undefined ? { t: 'noted' } : { t: 'fork', a: fork.a, b: fork.b }
      }
      case 'attest': {
        const r = await this.minter.take(parseAttestation(h.attestation))
        return { t: 'minted', ...r }
      }
      case 'fork':
        await this.takeFork(parseBlock(h.a), parseBlock(h.b))
        return { t: 'noted' }
      case 'misconduct': {
        const blocks = Array.isArray(h.blocks) ? h.blocks.slice(0, MAX_SEGMENT + 1).map(parseBlock) : []
        await this.takeMisconduct({ after: h.after === null || h.after === undefined ? null : parseBlock(h.after), blocks })
        return { t: 'noted' }
      }
      case 'chain': {
        if (h.account !== this.ledger.account) throw new PaymentError('PAYMENT_INVALID', 'this node keeps only its own chain')
        const from = Number.isSafeInteger(h.from) ? Math.max(0, h.from as number) : 0
        return { t: 'blocks', blocks: this.ledger.store.blocks(from, 256) }
      }
      default:
        throw new PaymentError('PAYMENT_INVALID', `unknown ledger request "${String(h.t).slice(0, 32)}"`)
    }
  }

  /** Takes a payer's debit for a session this node served; returns the credit that agrees to it. */
  async settle (peer: string, debit: Block): Promise<Block> {
    const { ledger } = this
    const why = ledger.refusedWhy(debit.account)
    if (why !== undefined) throw new PaymentError('ACCOUNT_REFUSED', `account ${debit.account.slice(-8)}: ${why}; it is refused here`)
    if (debit.kind !== 'debit' || debit.counterparty !== ledger.account) throw new PaymentError('PAYMENT_INVALID', 'not a debit paying this node')
    const receipt = parseReceipt(debit.data)
    const hash = receiptHash(receipt)
    if (debit.receipt !== hash) throw new PaymentError('PAYMENT_INVALID', 'the debit names another receipt')
    if (!await verifyBlockSignature(debit)) throw new PaymentError('PAYMENT_INVALID', 'the debit is not signed by its account')
    const done = ledger.store.settlement(hash)
    if (done !== undefined) {
      // a retry of a settlement already taken: the same answer, nothing new
      if (done.role === 'payee' && done.theirs !== undefined && blockHash(done.theirs) === blockHash(debit)) return ledger.blockAt(done.seq)
      throw new PaymentError('PAYMENT_INVALID', 'this receipt was settled already')
    }
    await this.checkReceipt(debit, receipt)
    const conflict = await this.conflict(debit)
    if (conflict !== undefined) { await this.takeFork(conflict, debit); throw new PaymentError('ACCOUNT_REFUSED', `account ${debit.account.slice(-8)} signed two blocks with sequence number ${debit.seq}`) }
    const check = await checkPayer(this.options.node, ledger.store, debit, peer).catch(err => {
      throw err instanceof PaymentError ? err : new PaymentError('PAYMENT_INVALID', `could not read the payer's chain before its debit: ${(err as Error).message}`)
    })
    if (!check.ok) {
      this.refuse(check.proof, check.problems)
      throw new PaymentError('ACCOUNT_REFUSED', `account ${debit.account.slice(-8)}: its chain breaks the rules (${check.problems[0]})`)
    }
    const credit = await ledger.accept(debit, receipt)
    this.gate?.settled(commitmentId(receipt.commitment), receipt.to)
    this.background(this.minter.settled(commitmentId(receipt.commitment)))
    this.background(this.spread(debit))
    log('settled %d µcr from %s (%s tokens %d..%d)', credit.amount, debit.account.slice(-8), receipt.commitment.session, receipt.from, receipt.to)
    return credit
  }

  private async checkReceipt (debit: Block, r: Receipt): Promise<void> {
    const c = r.commitment
    if (c.consumer !== debit.account || c.server !== this.ledger.account) throw new PaymentError('PAYMENT_INVALID', 'the receipt is not between these two accounts')
    const session = this.ledger.store.session(commitmentId(c))
    if (session === undefined) throw new PaymentError('PAYMENT_INVALID', 'no session of this server was opened with that commitment')
    if (r.from !== session.settled) throw new PaymentError('PAYMENT_INVALID', `the session is settled up to token ${session.settled}, not ${r.from}`)
    if (Date.now() > c.expiresAt + PROTOCOL.settleGraceMs) throw new PaymentError('PAYMENT_INVALID', 'the commitment expired')
    if (debit.amount !== -receiptAmount(r)) throw new PaymentError('PAYMENT_INVALID', `the debit moves ${-debit.amount} µcr; the receipt is worth ${receiptAmount(r)}`)
    if (debit.balance < -PROTOCOL.maxDebt) throw new PaymentError('PAYMENT_REQUIRED', 'the debit takes the payer past the debt limit')
    const problem = await receiptProblem(r, { tokens: session.settled, preimage: session.preimage })
    if (problem !== undefined) throw new PaymentError('PAYMENT_INVALID', problem)
  }

  /** Another block this node has seen with the same account and sequence number, if any. */
  private async conflict (b: Block): Promise<Block | undefined> {
    const prior = this.ledger.store.seen(b.account, b.seq)
    return prior !== undefined && blockHash(prior) !== blockHash(b) ? prior : undefined
  }

  /** As a witness: remembers a payer's block; returns the fork proof if it conflicts with one seen before. */
  async witness (b: Block): Promise<{ a: Block, b: Block } | undefined> {
    const refused = this.ledger.store.fork(b.account)
    if (refused !== undefined) return refused
    if (!await verifyBlockSignature(b)) throw new PaymentError('PAYMENT_INVALID', 'the block is not signed by its account')
    const prior = await this.conflict(b)
    if (prior !== undefined) {
      await this.takeFork(prior, b)
      return { a: prior, b }
    }
    this.ledger.store.remember(b)
    return undefined
  }

  /** Checks a fork proof; if it holds and is new here, refuses the account and tells every server known. */
  async takeFork (a: Block, b: Block): Promise<boolean> {
    if (!await checkFork({ a, b })) throw new PaymentError('PAYMENT_INVALID', 'not a fork proof: two validly signed blocks of one account with one sequence number')
    if (this.ledger.isRefused(a.account)) return false
    this.ledger.store.addFork(a.account, a, b)
    log('fork proof: %s signed two blocks with sequence number %d; refusing it', a.account.slice(-8), a.seq)
    this.onFork?.(a.account)
    this.background(this.broadcast({ t: 'fork', a, b }, a.account))
    return true
  }

  /** Checks a misconduct proof; if it holds and is new here, refuses the account and tells every server known. */
  async takeMisconduct (proof: Misconduct): Promise<boolean> {
    const problems = await misconductProblems(proof)
    if (problems.length === 0) throw new PaymentError('PAYMENT_INVALID', 'not a misconduct proof: those blocks break no rule, or are not one account\'s own chain')
    return this.refuse(proof, problems)
  }

  /** Refuses the account of a checked misconduct proof and tells every server known; false if it was refused already. */
  private refuse (proof: Misconduct, problems: readonly string[]): boolean {
    const account = proof.blocks[0]!.account
    if (this.ledger.isRefused(account)) return false
    this.ledger.store.addRefusal(account, problems[0]!, JSON.stringify(proof))
    log('misconduct proof: %s %s; refusing it', account.slice(-8), problems[0])
    this.onFork?.(account)
    this.background(this.broadcast({ t: 'misconduct', after: proof.after, blocks: proof.blocks }, account))
    return true
  }

  /** Sends a payer's block to its witnesses; a fork one of them finds is taken here too. */
  private async spread (b: Block): Promise<void> {
    const peers = (await this.options.peers?.().catch(() => []) ?? []).filter(p => p.id !== b.account && p.id !== this.options.node.peerId)
    const witnesses = rendezvous(b.account, peers, WITNESSES)
    await Promise.all(witnesses.map(async w => {
      try {
        const reply = await ledgerRequest(this.options.node, w, { t: 'witness', block: b }, { timeoutMs: 10_000 })
        if (reply.t === 'fork') await this.takeFork(parseBlock(reply.a), parseBlock(reply.b))
      } catch (err) {
        log('witness %s: %s', w.id.slice(-8), (err as Error).message)
      }
    }))
  }

  private async broadcast (msg: Header, about: string): Promise<void> {
    const peers = (await this.options.peers?.().catch(() => []) ?? []).filter(p => p.id !== about && p.id !== this.options.node.peerId)
    await Promise.all(peers.map(async p => { await ledgerRequest(this.options.node, p, msg, { timeoutMs: 10_000 }).catch(err => { log('telling %s of a fork: %s', p.id.slice(-8), (err as Error).message) }) }))
  }

  private background (task: Promise<void>): void {
    const t = task.catch(err => { log('%s', (err as Error).message) }).finally(() => { this.tasks.delete(t) })
    this.tasks.add(t)
  }

  /** Waits for witnessing and fork broadcasts under way (tests, shutdown). */
  async idle (): Promise<void> {
    while (this.tasks.size > 0) await Promise.allSettled([...this.tasks])
  }
}

/** The `k` peers whose rendezvous hash with `account` is highest: every node picks the same ones from the same list. */
export function rendezvous (account: string, peers: readonly PeerAddress[], k: number): PeerAddress[] {
  return peers.map(p => ({ p, score: sha256Hex(new TextEncoder().encode(`${account}/${p.id}`)) }))
    .sort((a, b) => a.score < b.score ? 1 : a.score > b.score ? -1 : 0).slice(0, k).map(x => x.p)
}

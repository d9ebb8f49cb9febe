/**
 * Nothing forged, replayed or stale moves credits: against a charging server, a consumer's forged
 * receipts (wrong key, altered amount), a replayed one, one for a session the server never had, a
 * preimage out of order and an expired commitment are each refused, and no balance changes. An
 * honest session before them is settled exactly; a consumer that stops paying is cut off.
 */
import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { randomUUID } from 'node:crypto'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { type Ledger, LedgerService, HashChain, Wallet, auditLedger, blockHash, openLedger, receiptHash, signBlock, signCommitment } from '../../src/ledger/index.ts'
import { type HopPayer, NetNode, RemoteSpanSession, keySigner, ledgerRequest } from '../../src/net/index.ts'
import { type PaidServer, paidServer } from './swarm.ts'

const DIM = 64 // stories260K
const PRICE = 2
const BLOCKS = 5

describe('receipts a server refuses', () => {
  let server: PaidServer
  let node: NetNode
  let consumer: Ledger
  let wallet: Wallet
  let target: { id: string, addrs: string[] }
  const balances = (): [number, number] => [consumer.balance, server.books.ledger.balance]

  before(async () => {
    server = await paidServer([0, BLOCKS], PRICE, [], { payWaitMs: 1000 })
    node = await NetNode.create({ bootstrap: server.server.addresses })
    consumer = await openLedger(node)
    // a payer shows its chain to the servers it pays (they read the blocks they have not seen)
    await new LedgerService({ ledger: consumer, node }).start()
    wallet = new Wallet({ ledger: consumer, node, terms: async () => ({ price: PRICE, payThreshold: 1e12 }) })
    target = { id: server.server.node.peerId, addrs: [] }
  })

  after(async () => {
    await wallet?.close()
    consumer?.store.close()
    await node?.stop()
    await server?.server.stop()
  })

  /** Opens a session at the server paying with `payer`, runs `steps` one-row steps, and closes it. */
  async function session (steps: number, payer: HopPayer = wallet, keepOpen = false): Promise<{ remote: RemoteSpanSession, failures: Error[] }> {
    const failures: Error[] = []
    const results = new Set<number>()
    const remote = await RemoteSpanSession.open(node, target, { session: randomUUID(), model: server.server.modelId, start: 0, end: BLOCKS, maxLength: 16 }, DIM, {
      onResult: step => { results.add(step) },
      onFailure: err => { failures.push(err) }
    }, { payer })
    for (let k = 0; k < steps; k++) {
      await remote.step(k, k, Float32Array.from({ length: DIM }, (_, i) => Math.sin(i + k)), false)
      for (let t = 0; t < 400 && !results.has(k) && failures.length === 0; t++) await new Promise(resolve => setTimeout(resolve, 5))
    }
    if (!keepOpen) await remote.close()
    return { remote, failures }
  }

  test('an honest session is settled exactly: tokens × blocks × price', async () => {
    const [c0, s0] = balances()
    const { failures } = await session(3)
    assert.deepEqual(failures, [])
    await wallet.idle()
    assert.equal(consumer.store.pending().length, 0)
    assert.deepEqual(balances(), [c0 - 3 * BLOCKS * PRICE, s0 + 3 * BLOCKS * PRICE])
  })

  test('forged, altered, replayed and foreign receipts are refused and change nothing', async () => {
    const settled = consumer.store.recent(1)[0]!
    const debit = consumer.blockAt(settled.seq)
    const receipt = Wallet.receiptOf(settled)
    const before = balances()
    const settle = async (d: unknown): Promise<unknown> => await ledgerRequest(node, target, { t: 'settle', debit: d }, { timeoutMs: 10_000 })
    const head = consumer.head()
    const next = { v: 1 as const, account: consumer.account, seq: head.seq + 1, prev: blockHash(head), at: Date.now(), link: null }

    // the same settlement again: the same agreement, nothing new
    const again = await settle(debit) as { credit: { receipt: string } }
    assert.equal(again.credit.receipt, settled.receipt)
    // replayed: the same receipt in a new debit
    await assert.rejects(settle(await signBlock({ ...next, kind: 'debit', counterparty: target.id, amount: debit.amount, balance: head.balance + debit.amount, receipt: receiptHash(receipt), data: receipt }, consumer.signer)),
      { code: 'PAYMENT_INVALID', message: /settled already/ })
    // a receipt for a session the server never had (a commitment signed for another session id)
    const chain = new HashChain(8)
    const foreign = await signCommitment({ session: randomUUID(), server: target.id, model: server.server.modelId, start: 0, end: BLOCKS, price: PRICE * BLOCKS, root: chain.root, maxTokens: 8, expiresAt: Date.now() + 60_000, head: null }, consumer.signer)
    const r2 = { commitment: foreign, from: 0, to: 2, preimage: chain.preimage(2) }
    await assert.rejects(settle(await signBlock({ ...next, kind: 'debit', counterparty: target.id, amount: -2 * PRICE * BLOCKS, balance: head.balance - 2 * PRICE * BLOCKS, receipt: receiptHash(r2), data: r2 }, consumer.signer)),
      { code: 'PAYMENT_INVALID', message: /no session/ })

    // a live session's receipt, forged: signed by another key, or with its amount altered
    const held = await session(2, wallet, true)
    const row = { payment: (held.remote as unknown as { payment: { commitment: typeof foreign, preimage: (n: number) => string } }).payment }
    const live = { commitment: row.payment.commitment, from: 0, to: 2, preimage: row.payment.preimage(2) }
    const stranger = keySigner(await generateKeyPair('Ed25519'))
    const forged = await signBlock({ ...next, account: stranger.peerId, seq: 1, prev: '0'.repeat(64), kind: 'debit', counterparty: target.id, amount: -2 * PRICE * BLOCKS, balance: -2 * PRICE * BLOCKS, receipt: receiptHash(live), data: live }, stranger)
    await assert.rejects(settle(forged), { code: 'PAYMENT_INVALID', message: /not between these two accounts/ })
    const impostor = { ...forged, account: consumer.account } // the consumer's name on a block the stranger signed
    await assert.rejects(settle(impostor), { code: 'PAYMENT_INVALID', message: /not signed/ })
    await assert.rejects(settle(await signBlock({ ...next, kind: 'debit', counterparty: target.id, amount: -PRICE * BLOCKS, balance: head.balance - PRICE * BLOCKS, receipt: receiptHash(live), data: live }, consumer.signer)),
      { code: 'PAYMENT_INVALID', message: /receipt is worth/ })
    // a preimage that does not pay for the tokens it claims
    const wrong = { ...live, to: 2, preimage: 'ab'.repeat(32) }
    await assert.rejects(settle(await signBlock({ ...next, kind: 'debit', counterparty: target.id, amount: -2 * PRICE * BLOCKS, balance: head.balance - 2 * PRICE * BLOCKS, receipt: receiptHash(wrong), data: wrong }, consumer.signer)),
      { code: 'PAYMENT_INVALID', message: /preimage/ })
    assert.deepEqual(balances(), before, 'no refused receipt moved a credit')
    await held.remote.close()
    await wallet.idle()
    assert.deepEqual(balances(), [before[0] - 2 * BLOCKS * PRICE, before[1] + 2 * BLOCKS * PRICE], 'the live session settles honestly afterwards')
    for (const l of [consumer, server.books.ledger]) assert.deepEqual((await auditLedger(l.store)).problems, [])
  })

  test('a preimage out of order is refused; a consumer that stops paying is cut off', async () => {
    const chains: HashChain[] = []
    const payer = (reveal: (tokens: number, chain: HashChain) => string): HopPayer => ({
      open: async (srv, s) => {
        const chain = new HashChain(16)
        chains.push(chain)
        const commitment = await signCommitment({ ...s, server: srv, price: PRICE * BLOCKS, root: chain.root, maxTokens: 16, expiresAt: Date.now() + 60_000, head: consumer.headInfo() }, consumer.signer)
        return { commitment, preimage: tokens => reveal(tokens, chain), close: () => {} }
      }
    })
    const before = balances()
    const skipping = await session(3, payer((tokens, chain) => chain.preimage(tokens + 1)))
    assert.equal((skipping.failures[0] as { code?: string } | undefined)?.code, 'PAYMENT_INVALID', 'the skipped preimage is refused')
    // pays for its first step, then stops paying (its next payments are never sent)
    const silent = await session(1, payer((tokens, chain) => chain.preimage(tokens)), true)
    ;(silent.remote as unknown as { payment: unknown }).payment = undefined
    await silent.remote.step(1, 1, Float32Array.from({ length: DIM }, () => 0.5), false)
    await silent.remote.step(2, 2, Float32Array.from({ length: DIM }, () => 0.5), false)
    for (let t = 0; t < 300 && silent.failures.length === 0; t++) await new Promise(resolve => setTimeout(resolve, 10))
    assert.equal((silent.failures[0] as { code?: string } | undefined)?.code, 'PAYMENT_REQUIRED', 'a consumer that stops paying is refused after one step')
    await silent.remote.close()
    assert.deepEqual(balances(), before, 'sessions that were not settled moved nothing')
  })

  test('an expired commitment is refused at open, and a session stops at its expiry', async () => {
    const expired: HopPayer = {
      open: async (srv, s) => {
        const chain = new HashChain(16)
        return { commitment: await signCommitment({ ...s, server: srv, price: PRICE * BLOCKS, root: chain.root, maxTokens: 16, expiresAt: Date.now() - 1000, head: null }, consumer.signer), preimage: t => chain.preimage(t), close: () => {} }
      }
    }
    await assert.rejects(session(1, expired), { code: 'PAYMENT_INVALID', message: /expired/ })
    const short: HopPayer = {
      open: async (srv, s) => {
        const chain = new HashChain(16)
        return { commitment: await signCommitment({ ...s, server: srv, price: PRICE * BLOCKS, root: chain.root, maxTokens: 16, expiresAt: Date.now() + 300, head: null }, consumer.signer), preimage: t => chain.preimage(t), close: () => {} }
      }
    }
    const before = balances()
    const { remote, failures } = await session(1, short, true)
    assert.deepEqual(failures, [])
    await new Promise(resolve => setTimeout(resolve, 400))
    await remote.step(1, 1, Float32Array.from({ length: DIM }, () => 0.5), false)
    for (let t = 0; t < 200 && failures.length === 0; t++) await new Promise(resolve => setTimeout(resolve, 10))
    assert.equal((failures[0] as { code?: string } | undefined)?.code, 'PAYMENT_REQUIRED')
    await remote.close()
    assert.deepEqual(balances(), before)
  })
})

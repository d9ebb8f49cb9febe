/**
 * Double spending: a consumer signs two settlements with one sequence number, to two servers. Each
 * takes its own (neither has seen the other), sends it to the consumer's witnesses, and the two
 * blocks meet: a fork proof. Once it has spread, both servers refuse the consumer (new sessions and
 * settlements alike), and a server that only ever saw the proof refuses it too.
 */
import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { type Ledger, LedgerService, type Receipt, blockHash, checkFork, openLedger, receiptHash, signBlock } from '../../src/ledger/index.ts'
import { NetNode, ledgerRequest } from '../../src/net/index.ts'
import { type PaidServer, paidServer, servedSession } from './swarm.ts'

const DIM = 64
const PRICE = 2
const BLOCKS = 5

describe('a consumer that double-spends', () => {
  const servers: PaidServer[] = []
  let node: NetNode
  let consumer: Ledger

  before(async () => {
    servers.push(await paidServer([0, BLOCKS], PRICE))
    const boot = servers[0]!.server.addresses
    servers.push(await paidServer([0, BLOCKS], PRICE, boot), await paidServer([0, BLOCKS], PRICE, boot))
    node = await NetNode.create({ bootstrap: boot })
    consumer = await openLedger(node)
    // a payer shows its chain to the servers it pays (they read the blocks they have not seen)
    await new LedgerService({ ledger: consumer, node }).start()
  })

  after(async () => {
    consumer?.store.close()
    await node?.stop()
    await Promise.all(servers.map(async s => { await s.server.stop() }))
  })

  const served = async (s: PaidServer): Promise<Receipt> => await servedSession(node, consumer, s, DIM)

  test('both servers refuse it once the fork proof spreads; a peer that only saw the proof refuses it too', async () => {
    const [s1, s2] = servers as [PaidServer, PaidServer]
    const r1 = await served(s1)
    const r2 = await served(s2)
    const head = consumer.head()
    // two debits with the same sequence number and previous hash: the double spend
    const debit = async (r: Receipt, server: string): Promise<unknown> => await signBlock({
      v: 1, account: consumer.account, seq: head.seq + 1, prev: blockHash(head), kind: 'debit', counterparty: server, amount: -2 * PRICE * BLOCKS,
      balance: head.balance - 2 * PRICE * BLOCKS, receipt: receiptHash(r), link: null, at: Date.now(), data: r
    }, consumer.signer)
    const d1 = await debit(r1, s1.server.node.peerId)
    const d2 = await debit(r2, s2.server.node.peerId)
    const at = (s: PaidServer) => ({ id: s.server.node.peerId, addrs: s.server.addresses })
    const settled = await Promise.allSettled([ledgerRequest(node, at(s1), { t: 'settle', debit: d1 }), ledgerRequest(node, at(s2), { t: 'settle', debit: d2 })])
    assert.ok(settled.some(r => r.status === 'fulfilled'), 'the first of them is taken before anyone knows')

    for (let t = 0; t < 300 && !(s1.books.ledger.isRefused(consumer.account) && s2.books.ledger.isRefused(consumer.account)); t++) await new Promise(resolve => setTimeout(resolve, 50))
    assert.ok(s1.books.ledger.isRefused(consumer.account), 'the first server refuses the account')
    assert.ok(s2.books.ledger.isRefused(consumer.account), 'the second server refuses the account')

    // refused from now on: new sessions and new settlements
    for (const s of [s1, s2]) await assert.rejects(served(s), { code: 'ACCOUNT_REFUSED' })
    await assert.rejects(ledgerRequest(node, at(s1), { t: 'settle', debit: d2 }), { code: 'ACCOUNT_REFUSED' })

    // a server that joins later and is only handed the proof
    const late = await paidServer([0, BLOCKS], PRICE, s1.server.addresses)
    servers.push(late)
    const proof = s1.books.ledger.store.fork(consumer.account)!
    assert.ok(await checkFork(proof), 'anyone can check the proof with nothing but the two blocks')
    assert.equal(late.books.ledger.isRefused(consumer.account), false)
    await ledgerRequest(node, at(late), { t: 'fork', a: proof.a, b: proof.b })
    assert.ok(late.books.ledger.isRefused(consumer.account))
    await assert.rejects(served(late), { code: 'ACCOUNT_REFUSED' })
    // and a false proof (one block twice) is refused
    await assert.rejects(ledgerRequest(node, at(late), { t: 'fork', a: proof.a, b: proof.a }), { code: 'PAYMENT_INVALID' })
  })
})

/**
 * A payer whose chain breaks the rules: it wrote itself a mint that no attestation backs (5 credits
 * from nothing) and then pays a server. The server reads the blocks it had not seen before the
 * debit, finds the mint, refuses the settlement and the account, and publishes the segment as a
 * misconduct proof; a second server refuses the account from the proof alone. A payer that will
 * not show its blocks is not settled with. An honest payer's blocks check out (the other tests).
 */
import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { type Ledger, LedgerService, MICRO, openLedger } from '../../src/ledger/index.ts'
import { NetNode, ledgerRequest } from '../../src/net/index.ts'
import { sha256Hex } from '../../src/util/digest.ts'
import { type PaidServer, paidServer, servedSession } from './swarm.ts'

describe('a payer whose chain breaks the rules', () => {
  const servers: PaidServer[] = []
  const nodes: NetNode[] = []
  const ledgers: Ledger[] = []

  before(async () => {
    servers.push(await paidServer([0, 5], 2))
    servers.push(await paidServer([0, 5], 2, servers[0]!.server.addresses))
  })

  after(async () => {
    for (const l of ledgers) l.store.close()
    await Promise.all(nodes.map(async n => { await n.stop() }))
    await Promise.all(servers.map(async s => { await s.server.stop() }))
  })

  async function payer (serveChain: boolean): Promise<{ node: NetNode, ledger: Ledger }> {
    const node = await NetNode.create({ bootstrap: servers[0]!.server.addresses })
    const ledger = await openLedger(node)
    nodes.push(node)
    ledgers.push(ledger)
    if (serveChain) await new LedgerService({ ledger, node }).start()
    return { node, ledger }
  }
  const at = (s: PaidServer): { id: string, addrs: string[] } => ({ id: s.server.node.peerId, addrs: s.server.addresses })

  test('a mint no attestation backs: the settlement and the account are refused, by the server paid and by the proof', async () => {
    const [s1, s2] = servers as [PaidServer, PaidServer]
    const { node, ledger } = await payer(true)
    await ledger.append({ kind: 'mint', counterparty: null, amount: 5 * MICRO, receipt: sha256Hex(new TextEncoder().encode('nothing')), link: null, data: { attestation: null } })
    const receipt = await servedSession(node, ledger, s1)
    const row = await ledger.pay(receipt)
    const before = s1.books.ledger.balance
    await assert.rejects(ledgerRequest(node, at(s1), { t: 'settle', debit: ledger.blockAt(row.seq) }), { code: 'ACCOUNT_REFUSED', message: /breaks the rules \(block 1: not an attestation/ })
    assert.equal(s1.books.ledger.balance, before, 'nothing was credited')
    assert.ok(s1.books.ledger.isRefused(ledger.account))
    for (let t = 0; t < 200 && !s2.books.ledger.isRefused(ledger.account); t++) await new Promise(resolve => setTimeout(resolve, 50))
    assert.ok(s2.books.ledger.isRefused(ledger.account), 'the proof reached the other server')
    await assert.rejects(servedSession(node, ledger, s2), { code: 'ACCOUNT_REFUSED' })
    // the proof is what anyone checks; blocks that break no rule are not one
    const honest = await payer(true)
    await assert.rejects(ledgerRequest(honest.node, at(s2), { t: 'misconduct', after: null, blocks: [honest.ledger.head()] }), { code: 'PAYMENT_INVALID', message: /not a misconduct proof/ })
    assert.equal(s2.books.ledger.isRefused(honest.ledger.account), false)
  })

  test('a payer that does not show its chain is not settled with, and loses nothing', async () => {
    const [s1] = servers as [PaidServer]
    const { node, ledger } = await payer(false)
    const receipt = await servedSession(node, ledger, s1)
    const row = await ledger.pay(receipt)
    await assert.rejects(ledgerRequest(node, at(s1), { t: 'settle', debit: ledger.blockAt(row.seq) }), { code: 'PAYMENT_INVALID', message: /could not read the payer's chain/ })
    assert.equal(s1.books.ledger.isRefused(ledger.account), false, 'not refused: it may show its chain on the next try')
    await new LedgerService({ ledger, node }).start()
    const reply = await ledgerRequest(node, at(s1), { t: 'settle', debit: ledger.blockAt(row.seq) })
    assert.equal(reply.t, 'agreed', 'settled once the chain can be read')
  })
})

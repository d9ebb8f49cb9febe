/**
 * Minting over a swarm: two servers of the same blocks, a client that audits every hop and pays.
 * Each passed audit's attestation goes to the audited server, which mints for it (the other server
 * was the witness). Credits that moved still sum to zero; what is new is exactly what the servers
 * minted, within the cap, and every chain, mints included, verifies.
 */
import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { watcherFor } from '../../src/cli/load.ts'
import { PROTOCOL, auditLedger } from '../../src/ledger/index.ts'
import type { Model } from '../../src/model/index.ts'
import { type Books, type PaidServer, paidServer, payingClient } from './swarm.ts'

const ALWAYS = { rate: 1, probationRate: 1, probationAudits: 0 }

describe('minting for audited work', () => {
  const servers: PaidServer[] = []
  let client: { model: Model, books: Books }
  const start = new Map<string, number>()

  before(async () => {
    servers.push(await paidServer([0, 5], 3))
    servers.push(await paidServer([0, 5], 5, servers[0]!.server.addresses))
    client = await payingClient(servers[0]!.server.addresses, 2, { watcher: books => watcherFor({ verify: 'sample' }, () => books()?.ledger, () => books()?.wallet, ALWAYS) })
    for (const b of [client.books, ...servers.map(s => s.books)]) start.set(b.ledger.account, b.ledger.balance)
  })

  after(async () => {
    await client?.model.close()
    await Promise.all(servers.map(async s => { await s.server.stop() }))
  })

  test('passed audits mint for the audited servers; payments still sum to zero', async () => {
    for (let i = 0; i < 6; i++) {
      const gen = client.model.generate('Once upon a time', { temperature: 0.8, seed: i, maxTokens: 8 })
      for await (const _ of gen);
    }
    const wallet = client.books.wallet!
    const answered = (): number => wallet.attestations.minted + wallet.attestations.waiting + wallet.attestations.failed + wallet.attestations.capped
    const mints = (): number => servers.reduce((n, s) => n + s.books.ledger.store.blocks(0, 10_000).filter(b => b.kind === 'mint').length, 0)
    // audits finish after their requests and attestations after them; one that came before its
    // session's settlement waits for it at the server
    for (let t = 0; t < 200 && (answered() < 6 || mints() < wallet.attestations.minted + wallet.attestations.waiting); t++) {
      await new Promise(resolve => setTimeout(resolve, 50))
      await wallet.idle()
      await Promise.all(servers.map(async s => { await s.books.service.idle() }))
    }
    await wallet.retryPending()
    assert.equal(wallet.attestations.failed, 0, 'no attestation was refused')
    assert.ok(answered() >= 6, `every request's audit was attested (${JSON.stringify(wallet.attestations)})`)
    assert.equal(mints(), wallet.attestations.minted + wallet.attestations.waiting, 'each attestation minted once, those that waited for their settlement too')
    const change = (b: Books): number => b.ledger.balance - start.get(b.ledger.account)!
    const minted = servers.reduce((n, s) => n + s.books.ledger.summary().minted - start.get(s.books.ledger.account)!, 0)
    assert.ok(minted > 0)
    assert.equal(change(client.books) + servers.reduce((n, s) => n + change(s.books), 0), minted, 'what is new is what was minted')
    for (const s of servers) {
      const { earned, minted: m } = s.books.ledger.summary()
      assert.ok(m <= PROTOCOL.mintCapPerEpoch)
      assert.equal(change(s.books), earned + m - start.get(s.books.ledger.account)!, 'a server\'s balance is what it earned and minted')
    }
    for (const b of [client.books, ...servers.map(s => s.books)]) assert.deepEqual((await auditLedger(b.ledger.store)).problems, [])
  })
})

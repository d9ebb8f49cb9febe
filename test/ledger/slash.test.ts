/**
 * Slashing: a server convicted by a checked fraud proof loses 20% of its balance, as the convicting
 * node knows it, once per proof: the same proof never slashes twice, a second proof slashes again.
 * Its reputation is reset by the conviction (it leaves every route). Also the Sybil pair: a client
 * paying its owner's own server ends with the total the two started with.
 */
import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { type Ledger, PROTOCOL, clientCredits } from '../../src/ledger/index.ts'
import { loadSwarmModel } from '../../src/swarm/index.ts'
import { type Verifier, verification } from '../../src/verify/index.ts'
import { cheat, lieInRecord, slowDown } from '../swarm/cheaters.ts'
import { STORIES, greedyIds, tempDir } from '../swarm/harness.ts'
import { kinds } from '../verify/kinds.ts'
import { ALWAYS } from '../verify/swarm.ts'
import { type PaidServer, paidServer, payingClient } from './swarm.ts'

describe('slashing and self-dealing', () => {
  const servers: PaidServer[] = []
  let cheater: PaidServer
  const dir = tempDir()

  before(async () => {
    servers.push(await paidServer([0, 2], 3))
    const boot = servers[0]!.server.addresses
    servers.push(await paidServer([0, 2], 3, boot), await paidServer([2, 5], 3, boot), await paidServer([2, 5], 3, boot))
    for (const s of servers) slowDown(s.server, 10)
    cheater = await paidServer([2, 5], 3, boot)
    cheat(cheater.server, kinds.random())
    await lieInRecord(cheater.server, () => ({ throughput: 1e6 }))
  })

  after(async () => {
    await Promise.all([...servers, cheater].map(async s => { await s?.server.stop() }))
    dir.remove()
  })

  test('a convicted server is slashed once per proof, never twice for the same proof', async () => {
    const boot = servers[0]!.server.addresses
    const suspect = cheater.server.node.peerId
    // a first client pays the cheater (unaudited), so this account has seen its balance
    const first = await payingClient(boot, 5, { dataDir: dir.path })
    await greedyIds(first.model, 'Once upon a time', 8)
    await first.books.wallet!.idle()
    await first.model.close()
    assert.ok(cheater.books.ledger.balance > 0, 'the cheater earned before it was caught')

    let ledger: Ledger | undefined
    let verifier: Verifier | undefined
    const slashes: Array<{ known: number, amount: number | undefined }> = []
    const model = await loadSwarmModel(STORIES, {
      bootstrap: boot,
      payer: clientCredits({ dataDir: dir.path, onLedger: l => { ledger = l } }),
      watcher: verification({ mode: 'sample', policy: ALWAYS, onVerifier: v => { verifier = v }, onConviction: (s, proof) => { const known = ledger!.knownBalance(s)!; slashes.push({ known, amount: ledger!.slash(s, proof) }) } })
    })
    try {
      assert.ok(ledger!.knownBalance(suspect)! > 0, 'the account knows the cheater\'s balance from its agreements')
      for (let i = 0; i < 6 && !verifier!.book.isConvicted(suspect); i++) {
        await greedyIds(model, 'Once upon a time', 12)
        await verifier!.idle()
      }
      const proof = verifier!.book.get(suspect).convicted
      assert.ok(proof !== undefined, 'the cheater is convicted')
      assert.equal(verifier!.book.get(suspect).score, 0, 'its reputation is reset')
      assert.equal(slashes.length, 1)
      const cut = Math.floor(PROTOCOL.slashShare * slashes[0]!.known)
      assert.ok(cut > 0)
      assert.equal(slashes[0]!.amount, cut, '20% of its balance at the conviction')
      assert.equal(ledger!.store.slashed(suspect), cut)
      // the same proof again (found again in the swarm, reported twice): no second slash
      const before = ledger!.knownBalance(suspect)
      assert.equal(ledger!.slash(suspect, proof!), undefined)
      assert.equal(ledger!.store.slashed(suspect), cut)
      assert.equal(ledger!.knownBalance(suspect), before)
      // another proof is another conviction: slashed again, from what is left
      const left = ledger!.knownBalance(suspect)!
      assert.equal(ledger!.slash(suspect, 'f'.repeat(64)), Math.floor(PROTOCOL.slashShare * left))
    } finally {
      await model.close()
    }
  })

  test('a Sybil pair trading with itself ends with the total it started with', async () => {
    // one owner's server (alone in its swarm) and the owner's client, which buys only from it
    const own = await paidServer([0, 5], 9)
    const client = await payingClient(own.server.addresses, 1)
    try {
      const total = (): number => client.books.ledger.balance + own.books.ledger.balance
      const start = total()
      for (let i = 0; i < 5; i++) await greedyIds(client.model, 'Lily', 6)
      await client.books.wallet!.idle()
      assert.ok(own.books.ledger.summary().earned > 0, 'the pair traded')
      assert.equal(total(), start, 'and holds what it held')
      assert.equal(client.books.ledger.summary().minted + own.books.ledger.summary().minted, 0, 'trading made nothing new')
    } finally {
      await client.model.close()
      await own.server.stop()
    }
  })
})

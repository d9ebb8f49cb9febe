/**
 * One conformance suite for every LedgerStore: the same settlements, mints, forks, refusals and
 * slashes through SQLite, through the memory store, and through a memory store restored from the
 * rows it persisted (a reloaded tab) must read back the same, and each refuses what SQLite refuses
 * without changing anything.
 */
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { type Signer, keySigner } from '../net/index.ts'
import { type Block, blockHash, signBlock } from './block.ts'
import { Ledger } from './ledger.ts'
import { type Change, MemoryStore } from './memory.ts'
import { HashChain, commitmentId, receiptHash, signCommitment } from './payword.ts'
import { SqliteStore } from './sqlite.ts'
import type { LedgerStore } from './store.ts'

const signer = async (): Promise<Signer> => keySigner(await generateKeyPair('Ed25519'))

/** the next block of `ledger`'s chain, signed but not stored */
async function next (ledger: Ledger, kind: Block['kind'], amount: number, receipt: string | null = null): Promise<Block> {
  const h = ledger.head()
  return await signBlock({ v: 1, account: ledger.account, seq: h.seq + 1, prev: blockHash(h), kind, counterparty: null, amount, balance: h.balance + amount, receipt, link: null, at: Date.now(), data: null }, ledger.signer)
}

interface World { payer: Ledger, payee: Ledger, receipts: string[], commitment: string }

/** Two accounts: three settlements (the last awaiting its agreement), a mint, a slash, a fork and a refusal noted. */
async function play (make: () => LedgerStore, keys: { payer: Signer, payee: Signer, stranger: Signer }): Promise<World> {
  const payer = await Ledger.open({ store: make(), signer: keys.payer, grantBits: 4 })
  const payee = await Ledger.open({ store: make(), signer: keys.payee })
  const chain = new HashChain(1000, new Uint8Array(32).fill(7))
  const c = await signCommitment({ session: 's', server: payee.account, model: 'm', start: 0, end: 2, price: 3, root: chain.root, maxTokens: 1000, expiresAt: 4_000_000_000_000, head: payer.headInfo() }, payer.signer)
  const commitment = commitmentId(c)
  payee.store.addSession({ commitment, session: 's', consumer: payer.account, body: JSON.stringify(c), settled: 0, preimage: c.root })
  const receipts: string[] = []
  let from = 0
  for (const [i, to] of [10, 25, 40].entries()) {
    const receipt = { commitment: c, from, to, preimage: chain.preimage(to) }
    const row = await payer.pay(receipt)
    const credit = await payee.accept(payer.blockAt(row.seq), receipt)
    if (i < 2) await payer.agreed(row, credit)
    receipts.push(receiptHash(receipt))
    from = to
  }
  payee.store.mint(await next(payee, 'mint', 50), 'attestation-1', 7)
  const stranger = await Ledger.open({ store: new SqliteStore(':memory:'), signer: keys.stranger })
  const [a, b] = [await next(stranger, 'debit', -1, 'a'.repeat(64)), await next(stranger, 'debit', -2, 'b'.repeat(64))]
  stranger.store.close()
  for (const s of [payer.store, payee.store]) {
    s.remember(a)
    s.addFork(stranger.account, a, b)
    s.addRefusal('someone', 'its chain breaks the rules', '{"proof":1}')
    assert.equal(s.addSlash('proof-1', stranger.account, 5), true)
    assert.equal(s.addSlash('proof-1', stranger.account, 5), false, 'a proof slashes once')
    s.setMeta('note', 'kept')
  }
  return { payer, payee, receipts, commitment }
}

/** everything a store answers, for comparing stores */
function observe (s: LedgerStore, w: World, stranger: string): unknown {
  return {
    head: s.head(),
    blocks: s.blocks(0, 100),
    tail: s.blocks(2, 2),
    settlements: w.receipts.map(r => s.settlement(r)),
    at: [0, 10, 25, 40].map(f => s.settlementAt(w.commitment, f)),
    recent: s.recent(2),
    pending: s.pending(),
    last: s.lastSettlement(w.commitment),
    minted: [s.minted('attestation-1'), s.minted('other'), s.mintedIn(7), s.mintedIn(8)],
    session: s.session(w.commitment),
    seen: [s.seen(stranger, 1), s.seen(stranger, 2), s.latest(stranger), s.latest(w.payer.account)?.seq, s.latest(w.payee.account)?.seq],
    forks: [s.fork(stranger), s.forks()],
    refusal: [s.refusal('someone'), s.refusal(stranger)],
    slashed: s.slashed(stranger),
    totals: s.totals(),
    meta: [s.meta('account'), s.meta('note'), s.meta('none')]
  }
}

describe('ledger stores', () => {
  test('SQLite, memory, and memory restored from its persisted rows read back the same books', async () => {
    const keys = { payer: await signer(), payee: await signer(), stranger: await signer() }
    const sql = await play(() => new SqliteStore(':memory:'), keys)
    const persisted: Change[][] = []
    const mem = await play(() => {
      const rows: Change[] = []
      persisted.push(rows)
      return new MemoryStore({ persist: async changes => { rows.push(...changes) } })
    }, keys)
    const stranger = keys.stranger.peerId
    for (const side of ['payer', 'payee'] as const) {
      const want = observe(sql[side].store, sql, stranger)
      // the same keys, and fixed seeds, but signing times differ: compare shapes through the sql world's own receipts
      const got = observe(mem[side].store, mem, stranger)
      assert.deepEqual(normalize(got), normalize(want), `${side}: memory store`)
      await mem[side].store.flush()
      const restored = new MemoryStore({ rows: persisted[side === 'payer' ? 0 : 1] })
      assert.deepEqual(observe(restored, mem, stranger), got, `${side}: restored from its rows`)
    }
    sql.payer.store.close()
    sql.payee.store.close()
  })

  for (const [name, make] of [['SQLite', () => new SqliteStore(':memory:')], ['memory', () => new MemoryStore()]] as const) {
    test(`${name}: a block that does not follow the head, a second settlement of a receipt, and a session settled past are refused, changing nothing`, async () => {
      const keys = { payer: await signer(), payee: await signer(), stranger: await signer() }
      const w = await play(make, keys)
      const s = w.payee.store
      const before = observe(s, w, keys.stranger.peerId)
      const stale = { ...(await next(w.payee, 'slash', -1)), seq: s.head()!.seq }
      assert.throws(() => { s.append(stale) }, { code: 'LEDGER_INVALID' })
      const row = s.settlement(w.receipts[0]!)!
      const fresh = await next(w.payee, 'credit', 1, 'c'.repeat(64))
      assert.throws(() => { s.settle(fresh, { ...row, mine: blockHash(fresh), seq: fresh.seq }) })
      assert.throws(() => { s.settle(fresh, { ...row, receipt: 'r9', mine: blockHash(fresh), seq: fresh.seq }) }, 'the same (commitment, from)')
      assert.throws(() => { s.settle(fresh, { ...row, receipt: 'r9', from: 40, to: 41, mine: blockHash(fresh), seq: fresh.seq }, { commitment: w.commitment, to: 40, preimage: 'x' }) }, { code: 'PAYMENT_INVALID' })
      assert.throws(() => { s.mint(fresh, 'attestation-1', 7) }, { code: 'PAYMENT_INVALID' })
      assert.deepEqual(observe(s, w, keys.stranger.peerId), before)
      s.close()
      w.payer.store.close()
    })
  }

  test('a block leaves only once persisted: a failing write fails the payment, and the next flush writes it whole', async () => {
    const rows: Change[] = []
    let failing = false
    const store = new MemoryStore({ persist: async changes => { if (failing) throw new Error('quota exceeded'); rows.push(...changes) } })
    const payer = await Ledger.open({ store, signer: await signer(), grantBits: 0 })
    const c = await signCommitment({ session: 's', server: 'p', model: 'm', start: 0, end: 1, price: 1, root: new HashChain(10).root, maxTokens: 10, expiresAt: 4_000_000_000_000, head: payer.headInfo() }, payer.signer)
    failing = true
    const chain = new HashChain(10)
    await assert.rejects(payer.pay({ commitment: c, from: 0, to: 3, preimage: chain.preimage(3) }), /quota exceeded/)
    assert.equal(new MemoryStore({ rows }).head()!.seq, 0, 'the debit is not persisted, and was not handed out')
    failing = false
    await store.flush()
    const restored = new MemoryStore({ rows })
    assert.equal(restored.head()!.seq, 1)
    assert.equal(restored.pending().length, 1, 'the debit and its settlement were written together')
  })

  test('other accounts\' blocks are remembered up to maxSeen, the oldest forgotten first', async () => {
    const s = new MemoryStore({ maxSeen: 10 })
    const l = await Ledger.open({ store: new MemoryStore(), signer: await signer() })
    const blocks: Block[] = []
    for (let i = 0; i < 12; i++) { const b = await next(l, 'slash', -1); l.store.append(b); blocks.push(b) }
    for (const b of blocks) s.remember(b)
    assert.equal(s.seen(l.account, 1), undefined)
    assert.equal(s.seen(l.account, 12)?.seq, 12)
    assert.equal(s.latest(l.account)?.seq, 12)
  })
})

/** the parts of an observation that depend on signing time and random keys' signatures, replaced */
function normalize (o: unknown): unknown {
  return JSON.parse(JSON.stringify(o, (k, v) => ['sig', 'at', 'prev', 'mine', 'receipt', 'link', 'detail', 'body', 'root', 'preimage', 'commitment', 'proof'].includes(k) ? '*' : v))
}

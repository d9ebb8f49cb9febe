import assert from 'node:assert/strict'
import { test } from 'node:test'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { type SignedClaim, type Signer, type StepClaim, claimBytes, keySigner } from '../net/index.ts'
import { toHex } from '../util/digest.ts'
import { type Attestation, attestationId, mintFor, signAttestation } from './attest.ts'
import { auditLedger } from './audit.ts'
import type { Ledger } from './ledger.ts'
import { Minter } from './minter.ts'
import { openLedger } from './node.ts'
import { HashChain, commitmentId, signCommitment } from './payword.ts'
import { PROTOCOL } from './policy.ts'

const signer = async (): Promise<Signer> => keySigner(await generateKeyPair('Ed25519'))
const digest = (n: number): string => n.toString(16).padStart(64, '0')
const claim = async (by: Signer, c: StepClaim): Promise<SignedClaim> => ({ ...c, sig: toHex(await by.sign(claimBytes(c))) })

interface Books {
  consumer: Ledger
  server: Ledger
  witness: Signer
  close: () => void
}

async function books (): Promise<Books> {
  const consumer = await openLedger(await signer())
  const server = await openLedger(await signer())
  return { consumer, server, witness: await signer(), close: () => { consumer.store.close(); server.store.close() } }
}

/** A session of `blocks` blocks the consumer opened at the server and paid for up to `paid` tokens (1 µcr per token). */
async function paidSession (b: Books, session: string, paid: number, blocks = 4): Promise<{ commitment: string, pay: (to: number) => Promise<void> }> {
  const chain = new HashChain(100_000)
  const c = await signCommitment({ session, server: b.server.account, model: 'm', start: 0, end: blocks, price: 1, root: chain.root, maxTokens: 100_000, expiresAt: Date.now() + 3600_000, head: b.consumer.headInfo() }, b.consumer.signer)
  const id = commitmentId(c)
  b.server.store.addSession({ commitment: id, session, consumer: b.consumer.account, body: JSON.stringify(c), settled: 0, preimage: c.root })
  let settled = 0
  const pay = async (to: number): Promise<void> => {
    const receipt = { commitment: c, from: settled, to, preimage: chain.preimage(to) }
    const row = await b.consumer.pay(receipt)
    await b.server.accept(b.consumer.blockAt(row.seq), receipt)
    settled = to
  }
  await pay(paid)
  return { commitment: id, pay }
}

/** The consumer's attestation that the server computed `tokens` positions of `session`, witnessed by `witness`. */
async function attest (b: Books, session: string, commitment: string, tokens: number, options: { blocks?: number, witness?: Signer, witnessInput?: string, consumer?: Signer } = {}): Promise<Attestation> {
  const span = { model: 'm', start: 0, end: options.blocks ?? 4 }
  const first = await claim(b.server.signer, { ...span, session, step: 0, from: 0, rows: 8, input: digest(1), output: digest(2) })
  const last = await claim(b.server.signer, { ...span, session, step: tokens - 8, from: tokens - 1, rows: 1, input: digest(3), output: digest(4) })
  const witness = options.witness ?? b.witness
  const witnessed = await claim(witness, { ...span, session: `${session}-replay`, step: 0, from: 0, rows: 8, input: options.witnessInput ?? digest(1), output: digest(5) })
  const by = options.consumer ?? b.consumer.signer
  return await signAttestation({ consumer: b.consumer.account, server: b.server.account, witness: witness.peerId, commitment, tokens, served: [first, last], witnessed }, { peerId: b.consumer.account, sign: by.sign.bind(by) })
}

test('a passed audit mints what it checked, once; the chain verifies', async () => {
  const b = await books()
  try {
    const s = await paidSession(b, 'session-1', 20)
    const a = await attest(b, 'session-1', s.commitment, 20)
    const minter = new Minter(b.server)
    const before = b.server.balance
    assert.deepEqual(await minter.take(a), { result: 'minted', amount: mintFor(a) })
    assert.equal(mintFor(a), PROTOCOL.mintPerBlockToken * 20 * 4, 'per block-token checked')
    assert.equal(b.server.balance, before + mintFor(a))
    assert.deepEqual(await minter.take(a), { result: 'known' }, 'an attestation mints once')
    assert.equal(b.server.balance, before + mintFor(a))
    assert.equal(b.server.summary().minted, mintFor(a))
    const report = await auditLedger(b.server.store)
    assert.deepEqual(report.problems, [])
  } finally {
    b.close()
  }
})

test('attestations that do not hold mint nothing', async () => {
  const b = await books()
  try {
    const s = await paidSession(b, 'session-1', 20)
    const minter = new Minter(b.server)
    const before = b.server.balance
    const refused = async (a: Attestation | Promise<Attestation>, why: RegExp): Promise<void> => {
      await assert.rejects(minter.take(await a), (err: Error & { code?: string }) => err.code === 'PAYMENT_INVALID' && why.test(err.message))
    }
    // a Sybil pair: the consumer (or the server) standing in as the witness
    await refused(attest(b, 'session-1', s.commitment, 20, { witness: b.consumer.signer }), /three accounts/)
    await refused(attest(b, 'session-1', s.commitment, 20, { witness: b.server.signer }), /three accounts/)
    await refused(attest(b, 'session-1', s.commitment, 20, { witnessInput: digest(9) }), /same input/)
    await refused(attest(b, 'session-1', s.commitment, 20, { consumer: await signer() }), /not signed by the consumer/)
    const forged = await attest(b, 'session-1', s.commitment, 20)
    await refused({ ...forged, tokens: 40 }, /ends at 20, not at 40/)
    await refused({ ...forged, served: [forged.served[0], { ...forged.served[1], output: digest(7) }] }, /not signed by the server/)
    await refused({ ...forged, witnessed: { ...forged.witnessed, output: digest(7) } }, /not signed by the witness/)
    await refused(attest(b, 'session-2', s.commitment, 20), /no session/)
    await refused(attest(b, 'session-1', digest(77), 20), /no session/)
    await refused({ ...forged, at: Date.now() + 3600_000 }, /future/)
    assert.equal(b.server.balance, before, 'nothing minted')
  } finally {
    b.close()
  }
})

test('an attestation past what is settled waits for the settlement', async () => {
  const b = await books()
  try {
    const s = await paidSession(b, 'session-1', 20)
    const a = await attest(b, 'session-1', s.commitment, 30)
    const minter = new Minter(b.server)
    assert.deepEqual(await minter.take(a), { result: 'waiting' })
    assert.equal(b.server.summary().minted, 0)
    await s.pay(32)
    await minter.settled(s.commitment)
    assert.equal(b.server.summary().minted, mintFor(a))
    assert.deepEqual((await auditLedger(b.server.store)).problems, [])
  } finally {
    b.close()
  }
})

test('minting stops at the cap of the epoch', async () => {
  const b = await books()
  try {
    // 40,000 tokens through 32 blocks: 1.28 credits of work, past the 1 credit cap
    const s = await paidSession(b, 'session-1', 40_000, 32)
    const minter = new Minter(b.server)
    const big = await attest(b, 'session-1', s.commitment, 40_000, { blocks: 32 })
    assert.ok(mintFor(big) > PROTOCOL.mintCapPerEpoch)
    assert.deepEqual(await minter.take(big), { result: 'minted', amount: PROTOCOL.mintCapPerEpoch })
    const t = await paidSession(b, 'session-2', 20)
    assert.deepEqual(await minter.take(await attest(b, 'session-2', t.commitment, 20)), { result: 'capped' })
    assert.equal(b.server.summary().minted, PROTOCOL.mintCapPerEpoch)
    assert.deepEqual((await auditLedger(b.server.store)).problems, [])
  } finally {
    b.close()
  }
})

test('a chain that mints past the cap, twice for one attestation, or more than the work is worth fails verification', async () => {
  const b = await books()
  try {
    const s = await paidSession(b, 'session-1', 20)
    const a = await attest(b, 'session-1', s.commitment, 20)
    const debit = b.consumer.blockAt(b.consumer.head().seq)
    const mint = async (amount: number): Promise<void> => {
      await b.server.append({ kind: 'mint', counterparty: b.consumer.account, amount, receipt: attestationId(a), link: null, data: { attestation: a, debit } })
    }
    await mint(mintFor(a))
    assert.deepEqual((await auditLedger(b.server.store)).problems, [], 'one honest mint')
    await mint(mintFor(a))
    await mint(mintFor(a) + 1)
    const problems = (await auditLedger(b.server.store)).problems
    assert.ok(problems.some(p => /block 3: mints a second time/.test(p)), problems.join('; '))
    assert.ok(problems.some(p => /block 4: mints 81 µcr; the attestation is worth 80/.test(p)), problems.join('; '))
    const c = await openLedger(await signer())
    try {
      // another account minting with the same (valid) evidence: not its work
      await c.append({ kind: 'mint', counterparty: b.consumer.account, amount: 1, receipt: attestationId(a), link: null, data: { attestation: a, debit } })
      assert.ok((await auditLedger(c.store)).problems.some(p => /not of this account's work/.test(p)))
    } finally {
      c.store.close()
    }
  } finally {
    b.close()
  }
})

import assert from 'node:assert/strict'
import { test } from 'node:test'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { keySigner } from '../net/index.ts'
import { blockHash, signBlock } from './block.ts'
import { openLedger } from './node.ts'
import { misconductProblems } from './payer-check.ts'

test('a misconduct proof shows only what the account signed: a balance that does not add up; not blocks others could make', async () => {
  const ledger = await openLedger(keySigner(await generateKeyPair('Ed25519')), { grantBits: 16 })
  const other = await openLedger(keySigner(await generateKeyPair('Ed25519')))
  try {
    const open = ledger.head()
    assert.deepEqual(await misconductProblems({ after: null, blocks: [open] }), [], 'an honest first block')
    // the account signs a slash of 0 with a balance raised by 7 credits
    const next = { v: 1 as const, account: ledger.account, seq: 1, prev: blockHash(open), kind: 'slash' as const, counterparty: null, amount: 0, balance: open.balance + 7_000_000, receipt: null, link: null, at: Date.now(), data: null }
    const lie = await signBlock(next, ledger.signer)
    assert.match((await misconductProblems({ after: open, blocks: [lie] }))[0]!, /block 1: balance \d+ is not \d+ \+ 0/)
    assert.match((await misconductProblems({ after: null, blocks: [open, lie] }))[0]!, /balance/, 'from block 0 as well')
    // the same lie with a signature that does not hold, or chained to another history, proves nothing
    assert.deepEqual(await misconductProblems({ after: open, blocks: [{ ...lie, sig: (await signBlock({ ...next, account: other.account }, other.signer)).sig }] }), [])
    assert.deepEqual(await misconductProblems({ after: open, blocks: [await signBlock({ ...next, prev: '0'.repeat(64) }, ledger.signer)] }), [])
    assert.deepEqual(await misconductProblems({ after: other.head(), blocks: [lie] }), [], 'after a block of another account')
  } finally {
    ledger.store.close()
    other.store.close()
  }
})

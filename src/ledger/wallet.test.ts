import assert from 'node:assert/strict'
import { test } from 'node:test'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { type NetNode, keySigner } from '../net/index.ts'
import type { Ledger } from './ledger.ts'
import { openLedger } from './node.ts'
import { MICRO, PROTOCOL } from './policy.ts'
import { Wallet } from './wallet.ts'

/** `ledger` as seen with `balance` µcr (what it would hold after paying for earlier sessions). */
const atBalance = (ledger: Ledger, balance: number): Ledger =>
  new Proxy(ledger, { get: (target, key) => key === 'balance' ? balance : Reflect.get(target, key, target) })

const SESSION = { session: 's1', model: 'm', start: 0, end: 2, maxLength: 16 }

test('a wallet does not pay itself, and opens unpaid before a settlement could cross the debt limit', async () => {
  const ledger = await openLedger(keySigner(await generateKeyPair('Ed25519')), { grantBits: 0 })
  const terms = { price: 10, payThreshold: MICRO }
  const walletAt = (balance: number): Wallet => new Wallet({ ledger: atBalance(ledger, balance), node: undefined as unknown as NetNode, terms: async () => terms })
  const wallets: Wallet[] = []
  try {
    const open = async (balance: number, server = 'server-peer'): Promise<boolean> => {
      const w = walletAt(balance)
      wallets.push(w)
      return await w.open(server, SESSION) !== undefined
    }
    // the session can cost at most 10 µcr × 2 blocks × 32 tokens = 640 µcr, below the threshold
    assert.equal(await open(0), true, 'an account in credit pays')
    assert.equal(await open(-PROTOCOL.maxDebt + 640), true, 'an account that can still pay all the session could cost pays')
    assert.equal(await open(-PROTOCOL.maxDebt + 639), false, 'one that could not goes unpaid from the start (the ledger would refuse the debit)')
    assert.equal(await open(-PROTOCOL.maxDebt - 1), false, 'so does one past the limit')
    assert.equal(await open(0, ledger.account), false, 'paying oneself moves nothing')
  } finally {
    for (const w of wallets) await w.close()
    ledger.store.close()
  }
})

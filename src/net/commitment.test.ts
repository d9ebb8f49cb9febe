import assert from 'node:assert/strict'
import { test } from 'node:test'
import { sha256Hex, toHex } from '../util/digest.ts'
import { claimBytes, parseCommitment, verifyClaim } from './commitment.ts'
import { NetNode } from './node.ts'

test('a step commitment verifies under its signer only, and only for the claim it signed', async () => {
  const [a, b] = await Promise.all([NetNode.create(), NetNode.create()])
  try {
    const claim = { model: 'm'.repeat(32), start: 2, end: 5, session: 's'.repeat(36), step: 7, from: 12, rows: 1, input: sha256Hex(new Uint8Array([1])), output: sha256Hex(new Uint8Array([2])) }
    const sig = toHex(await a.sign(claimBytes(claim)))
    assert.equal(await verifyClaim(a.peerId, claim, sig), true)
    assert.equal(await verifyClaim(b.peerId, claim, sig), false)
    for (const change of [{ step: 8 }, { from: 13 }, { rows: 2 }, { output: sha256Hex(new Uint8Array([3])) }, { end: 4 }, { session: 't'.repeat(36) }]) {
      assert.equal(await verifyClaim(a.peerId, { ...claim, ...change }, sig), false, JSON.stringify(change))
    }
    assert.equal(await verifyClaim('not a peer id', claim, sig), false)
    assert.deepEqual(parseCommitment({ input: claim.input, output: claim.output, sig }), { input: claim.input, output: claim.output, sig })
    assert.equal(parseCommitment(null), null)
    for (const bad of [{ input: 'x', output: claim.output, sig }, { input: claim.input, output: claim.output, sig: 'ab' }, 'nope']) {
      assert.throws(() => parseCommitment(bad), (err: unknown) => (err as { code?: string }).code === 'BAD_MESSAGE')
    }
  } finally {
    await Promise.all([a.stop(), b.stop()])
  }
})

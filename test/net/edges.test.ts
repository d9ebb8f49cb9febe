/**
 * Protocol edges: messages right behind an open, after a close, with payloads they must not carry,
 * from a peer that does not own the session, and hidden states holding NaN or infinity.
 */
import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { NetNode } from '../../src/net/index.ts'
import { encodeFrame } from '../../src/tensor/index.ts'
import { DIM, RawClient, type Rig, assertError, hidden, startRig, stepMsg } from './rig.ts'

describe('span protocol edges', () => {
  let rig: Rig
  let client: NetNode
  let other: NetNode

  before(async () => {
    rig = await startRig()
    ;[client, other] = await Promise.all([NetNode.create({ bootstrap: [rig.addr] }), NetNode.create({ bootstrap: [rig.addr] })])
  })

  after(async () => {
    await Promise.all([client?.stop(), other?.stop()])
    await rig?.close()
  })

  test('a step pipelined right behind its open is run, not refused', async () => {
    const raw = await RawClient.open(client, rig)
    const open = raw.openMsg(rig)
    await raw.burst([{ header: open }, { header: stepMsg(open.session, 0, 0), payload: hidden(2) }, { header: stepMsg(open.session, 1, 2), payload: hidden(1, 1) }])
    assert.deepEqual((await raw.count(3)).map(r => r.t), ['opened', 'result', 'result'])
    await raw.channel.close()
  })

  test('a step right after a close gets SESSION_CLOSED, not silence', async () => {
    const raw = await RawClient.open(client, rig)
    const session = await raw.openSession(rig)
    await raw.burst([{ header: { t: 'close', session } }, { header: stepMsg(session, 0, 0), payload: hidden(1) }])
    assertError(await raw.next(), 'SESSION_CLOSED')
    await raw.channel.send(stepMsg(session, 1, 0), hidden(1))
    assertError(await raw.next(), 'UNKNOWN_SESSION')
    await raw.channel.close()
  })

  test('close, next and rollback with a payload are refused', async () => {
    const raw = await RawClient.open(client, rig)
    const session = await raw.openSession(rig)
    for (const header of [{ t: 'close', session }, { t: 'next', session, next: null }, { t: 'rollback', session, position: 0 }]) {
      await raw.channel.send(header, hidden(1))
      assertError(await raw.next(), 'BAD_MESSAGE')
    }
    await raw.channel.send(stepMsg(session, 0, 0), hidden(1))
    assert.equal((await raw.next()).t, 'result', 'the session is still open')
    await raw.channel.close()
  })

  test('only the owner may close, re-point or roll back a session', async () => {
    const owner = await RawClient.open(client, rig)
    const session = await owner.openSession(rig)
    const stranger = await RawClient.open(other, rig)
    await stranger.channel.send({ t: 'close', session })
    assertError(await stranger.next(), 'UNKNOWN_SESSION')
    await owner.channel.send(stepMsg(session, 0, 0), hidden(1))
    assert.equal((await owner.next()).t, 'result')
    await Promise.all([owner.channel.close(), stranger.channel.close()])
  })

  test('a step starting before the cache\'s end rolls back there first; step ids still only rise', async () => {
    const raw = await RawClient.open(client, rig)
    const [a, b] = [await raw.openSession(rig), await raw.openSession(rig)]
    // a: 3 rows, then 2 rows from position 1 (the last 2 of the first step dropped); b: just row 0, then the same 2 rows
    await raw.channel.send(stepMsg(a, 0, 0), hidden(3))
    await raw.channel.send(stepMsg(a, 1, 1), hidden(2, 1))
    await raw.channel.send(stepMsg(b, 0, 0), hidden(1))
    await raw.channel.send(stepMsg(b, 1, 1), hidden(2, 1))
    const results: Array<{ t: string, session: string, step: number, commitment: { output: string } }> = []
    for (let i = 0; i < 4; i++) results.push(await raw.next() as unknown as typeof results[number])
    assert.deepEqual(results.map(r => r.t), ['result', 'result', 'result', 'result'])
    const out = (s: string, step: number): string => results.find(r => r.session === s && r.step === step)!.commitment.output
    assert.equal(out(a, 1), out(b, 1))
    // past the cache's end (it holds 3): refused; an id already used: refused, even after the rollback
    await raw.channel.send(stepMsg(a, 2, 4), hidden(1))
    assertError(await raw.next(), 'BAD_POSITIONS')
    await raw.channel.send(stepMsg(a, 0, 0), hidden(1))
    assertError(await raw.next(), 'BAD_POSITIONS')
    await raw.channel.send({ t: 'rollback', session: a, position: 1 })
    await raw.channel.send(stepMsg(a, 1, 1), hidden(1, 2))
    const again = await raw.next()
    assert.equal(again.t, 'result', 'the last step is answered again from its kept output')
    assert.equal((again as unknown as { commitment: { output: string } }).commitment.output, out(a, 1))
    await raw.channel.send(stepMsg(a, 2, 1), hidden(1))
    assert.equal((await raw.next()).t, 'result')
    await raw.channel.close()
  })

  test('NaN or infinity in a hidden state is refused with NON_FINITE, and the session goes on', async () => {
    const raw = await RawClient.open(client, rig)
    const session = await raw.openSession(rig)
    for (const bad of [NaN, Infinity, -Infinity]) {
      const x = Float32Array.from({ length: DIM }, (_, i) => Math.sin(i))
      x[7] = bad
      await raw.channel.send(stepMsg(session, 0, 0), encodeFrame(x, [1, DIM]))
      assertError(await raw.next(), 'NON_FINITE')
    }
    await raw.channel.send(stepMsg(session, 0, 0), hidden(1))
    assert.equal((await raw.next()).t, 'result')
    await raw.channel.close()
  })
})

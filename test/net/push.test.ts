/**
 * A server pushes only to peers that its swarm's signed records show are servers of the next block
 * of the same model, at the addresses those records give: a client cannot make it dial anything
 * else, and its errors say nothing about the addresses a client named.
 */
import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { createServer, type Server } from 'node:net'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { NetNode } from '../../src/net/index.ts'
import { Directory } from '../../src/swarm/directory.ts'
import { nextHopCheck } from '../../src/swarm/server.ts'
import { RawClient, type Rig, assertError, hidden, startRig, stepMsg } from './rig.ts'

describe('push targets', () => {
  let rig: Rig
  let client: NetNode
  let listener: Server
  let dialed = 0
  let port = 0

  before(async () => {
    let check: ReturnType<typeof nextHopCheck> | undefined
    rig = await startRig({ checkNextHop: async (...args) => await check!(...args) })
    check = nextHopCheck(new Directory(rig.node), rig.host.modelId)
    client = await NetNode.create({ bootstrap: [rig.addr] })
    listener = createServer(socket => { dialed++; socket.destroy() })
    await new Promise<void>(resolve => listener.listen(0, '127.0.0.1', resolve))
    port = (listener.address() as { port: number }).port
  })

  after(async () => {
    listener?.close()
    await client?.stop()
    await rig?.close()
  })

  const stranger = async (): Promise<string> => peerIdFromPrivateKey(await generateKeyPair('Ed25519')).toString()

  test('a push target that is not a server of the swarm is never dialed, and the error does not tell ports apart', async () => {
    const texts: string[] = []
    for (const target of [port, 1]) { // a listening port, then a closed one
      const raw = await RawClient.open(client, rig)
      const peer = await stranger()
      const session = await raw.openSession(rig, { next: { peer, addrs: [`/ip4/127.0.0.1/tcp/${target}`], session: 'next-session-1' } })
      await raw.channel.send(stepMsg(session, 0, 0, true), hidden(1))
      const replies = await raw.count(3)
      const failure = replies.find(r => r.t === 'error')
      assertError(failure!, 'PUSH_FAILED')
      assert.ok(replies.some(r => r.t === 'result'), 'the step itself was computed and returned')
      texts.push(failure!.t === 'error' ? failure!.message.replaceAll(peer.slice(-8), '<peer>') : '')
      assert.doesNotMatch(texts.at(-1)!, /127\.0\.0\.1|tcp|ECONN|refused|timed? ?out/i)
      await raw.channel.close()
    }
    assert.equal(dialed, 0, 'the named address was never dialed')
    assert.equal(texts[0], texts[1])
  })
})

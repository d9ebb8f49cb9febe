/**
 * Peers behind NAT, on real network stacks: Linux network namespaces made by this test. A public
 * host runs `gridllm relay` (bootstrap and relay); two servers sit each behind its own NAT router
 * (masquerade, only replies let in) and a client behind a third. AutoNAT finds the relay public and
 * the servers behind NAT; each server reserves a relay slot and announces its relayed address; the
 * client's greedy output through them equals the reference. Between the two servers, DCUtR tries
 * to punch a hole; the test reports whether their connection was upgraded to a direct one or stayed
 * relayed. Skips (saying why) where namespaces cannot be made.
 */
import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { join } from 'node:path'
import { Model } from '../../src/model/index.ts'
import { ROOT, STORIES } from '../swarm/harness.ts'
import { Netns, type NsProcess, netnsUnavailable, waitFor } from './netns.ts'

const BIN = join(ROOT, 'bin/gridllm.mjs')
const PROMPT = 'Once upon a time'
const TOKENS = 40
const unavailable = netnsUnavailable()

describe('servers and a client behind NAT', { skip: unavailable }, () => {
  const net = new Netns()
  const node = (ns: string, args: readonly string[]): NsProcess =>
    net.spawn(ns, process.execPath, [BIN, ...args], { DEBUG: 'gridllm:net:node,gridllm:net:reach,libp2p:circuit-relay:transport*,libp2p:dcutr*' })
  let relayAddr: string
  let a: NsProcess
  let b: NsProcess
  let relay: NsProcess

  before(async () => {
    // the internet: a bridge with the relay on it; three home routers, each with one host behind it
    net.add('inet')
    net.run('inet', ['ip', 'link', 'add', 'br0', 'type', 'bridge'])
    net.run('inet', ['ip', 'link', 'set', 'br0', 'up'])
    net.addr('inet', 'br0', '11.0.0.1/24')
    for (const k of [1, 2, 3]) {
      const [router, host] = [`nat${k}`, `h${k}`]
      net.add(router)
      net.add(host)
      net.link(router, 'w0', 'inet', `n${k}`)
      net.run('inet', ['ip', 'link', 'set', `n${k}`, 'master', 'br0'])
      net.addr(router, 'w0', `11.0.0.${10 + k}/24`)
      net.link(router, 'l0', host, 'e0')
      net.addr(router, 'l0', `10.${k}.0.1/24`)
      net.addr(host, 'e0', `10.${k}.0.2/24`)
      net.run(host, ['ip', 'route', 'add', 'default', 'via', `10.${k}.0.1`])
      net.nat(router, 'l0', 'w0')
    }
    relay = node('inet', ['relay', '--listen', '/ip4/11.0.0.1/tcp/0', '--mdns', 'off'])
    relayAddr = (await waitFor(relay.stdout, /^listening (\S+)$/m, 30_000, 'the relay to start'))[1]!
    const serve = (ns: string, blocks: string): NsProcess => node(ns, ['serve', '--model', STORIES, '--blocks', blocks, '--listen', '/ip4/0.0.0.0/tcp/0', '--bootstrap', relayAddr, '--mdns', 'off'])
    a = serve('h1', '0:2')
    b = serve('h2', '2:5')
    for (const [s, name] of [[a, 'server A'], [b, 'server B']] as const) {
      await waitFor(s.stderr, /behind NAT: reachable through a relay at (\S+)/, 60_000, `${name} to reserve a relay slot`)
    }
  })

  after(async () => { await net.destroy() })

  test('AutoNAT: the relay is public, the servers are behind NAT and announce relayed addresses', async () => {
    await waitFor(relay.stderr, /reachability public/, 30_000, 'the relay to be found public')
    type Listed = Array<{ reach?: string, state: string, addrs: string[] }>
    let servers: Listed = []
    // status is a snapshot: on this loaded machine a ping through the relay may miss its 3 s once,
    // and the relayed record a server re-announces once it holds a slot may not be the one read yet
    for (let attempt = 0; attempt < 5 && !(servers.length === 2 && servers.every(s => s.state === 'online' && s.reach === 'relayed')); attempt++) {
      if (attempt > 0) await new Promise(resolve => setTimeout(resolve, 1000))
      const status = net.spawn('inet', process.execPath, [BIN, 'status', '--bootstrap', relayAddr, '--json'])
      assert.equal(await status.exited, 0, status.stderr())
      servers = (JSON.parse(status.stdout()) as { models: Array<{ servers: Listed }> }).models[0]!.servers
    }
    assert.equal(servers.length, 2)
    for (const s of servers) {
      assert.equal(s.reach, 'relayed')
      assert.equal(s.state, 'online', 'the relayed servers answer the status ping through the relay')
      assert.ok(s.addrs.some(x => x.includes('/p2p-circuit')), JSON.stringify(s.addrs))
    }
  })

  test('the client behind a third NAT generates the reference through both servers', async () => {
    const local = await Model.load(STORIES)
    let expected = ''
    try {
      for await (const t of local.generate(PROMPT, { temperature: 0, maxTokens: TOKENS })) expected += t.text
    } finally {
      await local.close()
    }
    const client = node('h3', ['generate', '--bootstrap', relayAddr, '-p', PROMPT, '-n', String(TOKENS), '-t', '0', '--no-echo'])
    assert.equal(await client.exited, 0, client.stderr())
    assert.equal(client.stdout(), `${expected}\n`)

    // how the servers reached each other: A pushed its outputs to B
    const peerB = /peer (\S+)/.exec(b.stderr())![1]!.slice(-8)
    const lines = a.stderr().split('\n').filter(l => l.includes(`connection outbound to ${peerB}`) || l.includes(`connection inbound from ${peerB}`))
    assert.ok(lines.length > 0, `A never connected to B:\n${a.stderr()}`)
    const direct = lines.some(l => l.endsWith(': direct'))
    const why = /no dialable multiaddrs|no public addresses/.test(a.stderr() + b.stderr())
      ? 'DCUtR had no public address to punch to: behind NAT, libp2p keeps no observed TCP address, since its TCP transport cannot dial from its listening port'
      : 'DCUtR did not succeed'
    console.log(`# server A -> server B: ${direct ? 'upgraded to a direct connection by hole punching (DCUtR)' : `relayed (${why})`}`)
    console.log(`# ${lines.map(l => l.replace(/^.*gridllm:net:node /, '')).join('; ')}`)
  })
})

if (unavailable !== undefined) console.log(`# NAT test skipped: ${unavailable}`)

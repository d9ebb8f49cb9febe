/**
 * LAN discovery: two servers and a client on one LAN (a network namespace of its own, so no mDNS
 * packet reaches a real network) find each other by mDNS with no --bootstrap at all: `status --lan`
 * lists both servers and `generate --lan` prints the reference text. Skips (saying why) where
 * namespaces cannot be made.
 */
import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { join } from 'node:path'
import { Model } from '../../src/model/index.ts'
import { ROOT, STORIES } from '../swarm/harness.ts'
import { Netns, type NsProcess, netnsUnavailable, waitFor } from './netns.ts'

const BIN = join(ROOT, 'bin/gridllm.mjs')
const unavailable = netnsUnavailable()

describe('servers and a client on one LAN, no bootstrap', { skip: unavailable }, () => {
  const net = new Netns()
  const gridllm = (args: readonly string[]): NsProcess => net.spawn('lan', process.execPath, [BIN, ...args])

  before(async () => {
    net.add('lan')
    // a LAN interface (one end of a veth pair whose other end is unused), multicast on
    net.run('lan', ['ip', 'link', 'add', 'e0', 'type', 'veth', 'peer', 'name', 'e1'])
    for (const dev of ['e0', 'e1']) net.run('lan', ['ip', 'link', 'set', dev, 'multicast', 'on', 'up'])
    net.addr('lan', 'e0', '10.9.0.1/24')
    net.run('lan', ['ip', 'route', 'add', '224.0.0.0/4', 'dev', 'e0'])
    const servers = [gridllm(['serve', '--model', STORIES, '--blocks', '0:2']), gridllm(['serve', '--model', STORIES, '--blocks', '2:5'])]
    for (const s of servers) await waitFor(s.stdout, /^listening \S+$/m, 60_000, 'a server to come online')
  })

  after(async () => { await net.destroy() })

  test('status --lan lists both servers and every block', async () => {
    let out = ''
    for (let attempt = 0; attempt < 10 && !/every block is covered/.test(out); attempt++) {
      const status = gridllm(['status', '--lan'])
      assert.equal(await status.exited, 0, status.stderr())
      out = status.stdout()
      if (!/every block is covered/.test(out)) await new Promise(resolve => setTimeout(resolve, 1000))
    }
    assert.match(out, /2 servers/)
    assert.match(out, /every block is covered/)
  })

  test('generate --lan prints the reference', async () => {
    const local = await Model.load(STORIES)
    let expected = ''
    try {
      for await (const t of local.generate('Once upon a time', { temperature: 0, maxTokens: 30 })) expected += t.text
    } finally {
      await local.close()
    }
    const client = gridllm(['generate', '--lan', '-p', 'Once upon a time', '-n', '30', '-t', '0', '--no-echo'])
    assert.equal(await client.exited, 0, client.stderr())
    assert.equal(client.stdout(), `${expected}\n`)
  })
})

if (unavailable !== undefined) console.log(`# mDNS test skipped: ${unavailable}`)

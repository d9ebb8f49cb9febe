/**
 * Test 5: a private swarm (pre-shared swarm key). Peers with the key work together; a peer without
 * it, or with another key, cannot connect.
 */
import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { NetNode, generateSwarmKey } from '../../src/net/index.ts'
import { SwarmClient, loadSwarmModel } from '../../src/swarm/index.ts'
import { GridError } from '../../src/util/errors.ts'
import { ROOT, STORIES, type ServerProcess, greedyIds, startServer, stopServers, tempDir } from './harness.ts'

describe('a private swarm', () => {
  const dir = tempDir()
  const keyFile = join(dir.path, 'swarm.key')
  const servers: ServerProcess[] = []
  let key: Uint8Array

  before(async () => {
    await promisify(execFile)(process.execPath, [join(ROOT, 'bin/gridllm.mjs'), 'swarm-key', keyFile], { cwd: ROOT })
    key = readFileSync(keyFile)
    servers.push(await startServer(STORIES, ['--blocks', '0:3', '--swarm-key', keyFile]))
    servers.push(await startServer(STORIES, ['--blocks', '3:5', '--swarm-key', keyFile], { bootstrap: servers }))
  })

  after(async () => {
    await stopServers(servers)
    dir.remove()
  })

  test('peers with the key generate together', async () => {
    const model = await loadSwarmModel(STORIES, { bootstrap: [servers[0]!.addr], swarmKey: key })
    try {
      assert.equal((await greedyIds(model, 'Lily', 20)).length, 20)
    } finally {
      await model.close()
    }
  })

  for (const [what, swarmKey] of [['no key', undefined], ['another key', generateSwarmKey()]] as const) {
    test(`a peer with ${what} cannot connect`, async () => {
      await assert.rejects(SwarmClient.create({ bootstrap: [servers[0]!.addr], swarmKey, dialTimeoutMs: 2000 }), (err: unknown) => err instanceof GridError && err.code === 'PEER_UNREACHABLE')
      const node = await NetNode.create({ swarmKey, dialTimeoutMs: 2000 })
      try {
        await assert.rejects(node.ping({ id: servers[1]!.peer, addrs: [servers[1]!.addr] }), (err: unknown) => err instanceof GridError && err.code === 'PEER_UNREACHABLE')
        assert.deepEqual(node.connectedPeers, [])
      } finally {
        await node.stop()
      }
    })
  }

  test('a server without the key cannot join, and says why', async () => {
    await assert.rejects(startServer(STORIES, ['--blocks', '0:1'], { bootstrap: servers }), /could not reach any bootstrap peer[\s\S]*private[\s\S]*--swarm-key[\s\S]*PEER_UNREACHABLE/)
  })

  test('a malformed key file is refused', async () => {
    const bad = join(dir.path, 'bad.key')
    await promisify(execFile)('sh', ['-c', `printf 'not a key' > ${bad}`])
    await assert.rejects(promisify(execFile)(process.execPath, [join(ROOT, 'bin/gridllm.mjs'), 'status', '--bootstrap', servers[0]!.addr, '--swarm-key', bad], { cwd: ROOT }),
      (err: { code?: number, stderr?: string }) => err.code === 1 && /SWARM_KEY/.test(err.stderr ?? ''))
  })
})

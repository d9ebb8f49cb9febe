/**
 * `gridllm serve --model <model id> --blocks auto` with no file: it fetches only its span's weights
 * from the servers that have the file, into its cache folder, serves them in the chain (greedy
 * output is the reference), sends them on to others, and a restart reuses the cache.
 */
import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { readdirSync } from 'node:fs'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { Model } from '../../src/model/index.ts'
import { loadSwarmModel } from '../../src/swarm/index.ts'
import { expectedIds, expectedText } from '../fixtures/stories.ts'
import { ROOT, STORIES, type ServerProcess, greedyIds, startServer, startServers, stopServers, tempDir } from './harness.ts'

describe('a server that fetches its weights from the swarm', () => {
  const cache = tempDir()
  const servers: ServerProcess[] = []
  let modelId: string
  const fetching = (): Promise<ServerProcess> => startServer(modelId, ['--blocks', 'auto', '--num-blocks', '1', '--cache', cache.path], {
    bootstrap: servers.slice(0, 2), env: { DEBUG: 'gridllm:swarm:weights' }
  })

  before(async () => {
    const local = await Model.load(STORIES)
    modelId = local.modelId
    await local.close()
    servers.push(await startServer(STORIES, ['--blocks', '0:2']))
    await startServers(servers, STORIES, [['--blocks', '2:4']], { bootstrap: [...servers] })
    servers.push(await fetching())
  })

  after(async () => {
    await stopServers(servers)
    cache.remove()
  })

  test('it took the missing blocks and fetched only their weights, from both servers', () => {
    const log = servers[2]!.log()
    assert.match(log, /chose blocks 4:5/)
    const items = readdirSync(join(cache.path, 'weights', modelId)).sort()
    assert.deepEqual(items.filter(n => n.startsWith('blk.')).map(n => n.split('.')[1]).filter((b, i, a) => a.indexOf(b) === i), ['4'])
    assert.ok(items.includes('manifest.json') && items.includes('tokenizer'))
    assert.ok(!items.includes('token_embd.weight'), 'a server needs no embedding')
    const m = /fetched (\d+) of (\d+) bytes of \w+ \((\d+) reused\) from (.*)/.exec(log)
    assert.ok(m !== null, log)
    assert.equal(m[1], m[2])
    assert.equal(m[3], '0')
    for (const s of servers.slice(0, 2)) assert.ok(m[4]!.includes(s.peer.slice(-8)) || m[4]!.includes(s.peer), `pieces from ${s.peer}: ${m[4]}`)
  })

  test('the chain through it gives the reference, and status shows what it holds', async () => {
    const model = await loadSwarmModel(STORIES, { bootstrap: [servers[0]!.addr] })
    try {
      assert.deepEqual(await greedyIds(model, '', 200), expectedIds())
    } finally {
      await model.close()
    }
    const { stdout } = await promisify(execFile)(process.execPath, [join(ROOT, 'bin/gridllm.mjs'), 'status', '--json', '--bootstrap', servers[0]!.addr], { cwd: ROOT })
    const status = JSON.parse(stdout) as { models: Array<{ model: string, servers: Array<{ peer: string, platform: string, weights: unknown }> }> }
    const mine = status.models.find(m => m.model === modelId)!.servers.find(s => s.peer === servers[2]!.peer)!
    assert.deepEqual([mine.platform, mine.weights], ['node', { start: 4, end: 5, ends: false }])
  })

  test('a client with no file at all: generate --model <model id> fetches tokenizer, embedding and head from the swarm', async () => {
    const { stdout } = await promisify(execFile)(process.execPath, [
      join(ROOT, 'bin/gridllm.mjs'), 'generate', '--model', modelId, '--bootstrap', servers[0]!.addr, '--cache', join(cache.path, 'client'), '-t', '0', '-n', '200', '--no-echo'
    ], { cwd: ROOT })
    assert.equal(stdout, `${expectedText()}\n`)
    const items = readdirSync(join(cache.path, 'client', 'weights', modelId)).sort()
    assert.deepEqual(items.filter(n => !n.startsWith('blk.')), ['manifest.json', 'output_norm.weight', 'token_embd.weight', 'tokenizer'])
    assert.ok(!items.some(n => n.startsWith('blk.')), 'a client fetches no block')
  })

  test('a restart reuses the cache', async () => {
    await stopServers([servers[2]!])
    servers[2] = await fetching()
    const m = /fetched (\d+) of (\d+) bytes of \w+ \((\d+) reused\)/.exec(servers[2]!.log())
    assert.ok(m !== null, servers[2]!.log())
    assert.deepEqual([m[1], m[3]], ['0', m[2]])
  })
})

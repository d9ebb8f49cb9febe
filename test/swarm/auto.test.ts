/**
 * Test 4: a server joining with `--blocks auto` takes the span nobody serves, and the swarm then
 * generates what the local model does. And an auto server moves to cover blocks whose only server
 * died, without uncovering its own.
 */
import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { Model } from '../../src/model/index.ts'
import { SwarmClient, loadSwarmModel, swarmStatus } from '../../src/swarm/index.ts'
import { STORIES, type ServerProcess, greedyIds, startServer, stopServers } from './harness.ts'

describe('--blocks auto', () => {
  const servers: ServerProcess[] = []

  before(async () => {
    servers.push(await startServer(STORIES, ['--blocks', '0:2']))
    servers.push(await startServer(STORIES, ['--blocks', '2:3'], { bootstrap: servers }))
  })

  after(async () => { await stopServers(servers) })

  test('a joining server takes the uncovered span', async () => {
    const client = await SwarmClient.create({ bootstrap: [servers[0]!.addr] })
    try {
      const before = await swarmStatus(client.directory)
      assert.deepEqual(before.models[0]!.uncovered, [3, 4])
      const auto = await startServer(STORIES, ['--blocks', 'auto', '--num-blocks', '2'], { bootstrap: servers })
      servers.push(auto)
      assert.match(auto.log(), /chose blocks 3:5/)
      assert.doesNotMatch(auto.log(), /MaxListenersExceededWarning/)
      const after = await swarmStatus(client.directory)
      const m = after.models[0]!
      assert.deepEqual(m.uncovered, [])
      const record = m.servers.find(s => s.peer === auto.peer)
      assert.ok(record !== undefined, 'the new server announced itself')
      assert.deepEqual([record.start, record.end, record.state], [3, 5, 'online'])
      assert.ok(record.throughput > 0)
    } finally {
      await client.stop()
    }
    const local = await Model.load(STORIES)
    const swarm = await loadSwarmModel(STORIES, { bootstrap: [servers[0]!.addr] })
    try {
      assert.deepEqual(await greedyIds(swarm, 'Lily', 40), await greedyIds(local, 'Lily', 40))
    } finally {
      await swarm.close()
      await local.close()
    }
  })

  test('a second auto server reinforces the weakest blocks instead of doubling a strong one', async () => {
    // blocks 0:2 and 2:3 and 3:5 are covered once each; a 1-block server goes to the slowest block
    const client = await SwarmClient.create({ bootstrap: [servers[0]!.addr] })
    try {
      const m = (await swarmStatus(client.directory)).models[0]!
      const perBlock = m.blocks.map(list => list.reduce((sum, s) => sum + s.throughput, 0))
      const weakest = perBlock.indexOf(Math.min(...perBlock))
      const auto = await startServer(STORIES, ['--blocks', 'auto', '--num-blocks', '1'], { bootstrap: servers })
      servers.push(auto)
      assert.match(auto.log(), new RegExp(`chose blocks ${weakest}:${weakest + 1}\\b`))
    } finally {
      await client.stop()
    }
  })
})

describe('rebalancing', () => {
  const servers: ServerProcess[] = []
  after(async () => { await stopServers(servers) })

  test('an auto server moves to blocks whose server died, keeping every block covered', async () => {
    const fast = ['--announce-period', '1', '--rebalance-period', '2'] // records expire after 2 s
    const tail = await startServer(STORIES, ['--blocks', '2:5', ...fast])
    servers.push(tail)
    // blocks 0:2 are uncovered, so a 3-block auto server starts at 0
    const mover = await startServer(STORIES, ['--blocks', 'auto', '--num-blocks', '3', ...fast], { bootstrap: servers })
    servers.push(mover)
    assert.match(mover.log(), /chose blocks 0:3/)
    servers.push(await startServer(STORIES, ['--blocks', '0:2', ...fast], { bootstrap: servers }))
    tail.proc.kill('SIGKILL')
    await tail.exited
    const client = await SwarmClient.create({ bootstrap: [mover.addr] })
    try {
      let m
      for (let t = 0; t < 60; t++) {
        m = (await swarmStatus(client.directory)).models[0]
        if (m !== undefined && m.uncovered.length === 0 && !m.servers.some(s => s.peer === tail.peer)) break
        await new Promise(resolve => setTimeout(resolve, 500))
      }
      assert.ok(m !== undefined)
      assert.deepEqual(m.uncovered, [])
      const moved = m.servers.find(s => s.peer === mover.peer)
      assert.deepEqual([moved?.start, moved?.end], [2, 5])
    } finally {
      await client.stop()
    }
  })
})

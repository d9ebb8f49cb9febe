/**
 * What a server's upkeep costs the swarm: rebalancing and round-trip measurements share one read of
 * the directory per view period (one provider lookup per block, one record per server, asked of the
 * server itself), not one read each time they run. Reading it every time made an idle swarm's DHT
 * traffic grow with the square of its size.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { Directory, type SwarmServer } from '../../src/swarm/index.ts'
import { serveInProcess } from './harness.ts'

/** Counts the DHT lookups `server`'s node makes from now on. */
function countLookups (server: SwarmServer): { providers: number, records: number, direct: number } {
  const counts = { providers: 0, records: 0, direct: 0 }
  const node = server.node as unknown as Record<string, (...args: unknown[]) => Promise<unknown>>
  const findProviders = node.findProviders!.bind(node)
  const getRecord = node.getRecord!.bind(node)
  node.findProviders = async (...args) => { counts.providers++; return await findProviders(...args) }
  node.getRecord = async (...args) => {
    counts.records++
    if ((args[1] as { addrs?: unknown } | undefined)?.addrs !== undefined) counts.direct++
    return await getRecord(...args)
  }
  return counts
}

test('rebalancing reads the directory once per view period, and asks each server for its own record', async () => {
  const servers: SwarmServer[] = []
  try {
    servers.push(await serveInProcess([0, 3]))
    servers.push(await serveInProcess([3, 5], servers[0]!.addresses))
    const b = servers[1]!
    const nLayers = b.model.config.nLayers
    // the provider records of the first server spread once it has company
    const directory = new Directory(b.node)
    for (let t = 0; t < 100 && (await directory.servers(b.modelId, nLayers)).length < 1; t++) await new Promise(resolve => setTimeout(resolve, 100))
    const counts = countLookups(b)
    for (let i = 0; i < 4; i++) assert.equal(await b.considerMove(), false)
    assert.equal(counts.providers, nLayers, 'one provider lookup per block, for all four')
    assert.equal(counts.records, 1, 'one record: the other server\'s')
    assert.equal(counts.direct, 1, 'asked of the server itself')
  } finally {
    await Promise.all(servers.map(async s => { await s.stop() }))
  }
})

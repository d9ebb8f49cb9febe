/**
 * A hostile peer for tests, in this process: a real server of blocks 4:5 (it computes honestly)
 * that announces it holds every weight of the model and sends each piece with one byte flipped.
 * Built from the same parts as SwarmServer, with a lying weights provider in the middle.
 */
import { createBackend } from '../../src/kernels/index.ts'
import { modelManifest, openModel } from '../../src/model/index.ts'
import { NetNode, SpanServer, type WeightsProvider, serveWeights } from '../../src/net/index.ts'
import { ServedSpan } from '../../src/swarm/host.ts'
import { encodeRecord, recordRules, topics } from '../../src/swarm/index.ts'
import { FileWeights } from '../../src/swarm/weights/index.ts'

export interface Hostile {
  readonly peer: string
  /** pieces it was asked for */
  readonly asked: () => number
  stop (): Promise<void>
}

export async function startHostile (model: string, bootstrap: string): Promise<Hostile> {
  const source = await openModel(model)
  const manifest = await modelManifest(source)
  const honest = new FileWeights(source, manifest)
  let asked = 0
  const liar: WeightsProvider = {
    manifest: m => honest.manifest(m),
    read: async (m, item, offset, length) => {
      asked++
      const bytes = await honest.read(m, item, offset, length)
      if (bytes !== undefined) bytes[bytes.length >> 1]! ^= 0x10
      return bytes
    }
  }
  const node = await NetNode.create({ listen: ['/ip4/127.0.0.1/tcp/0', '/ip4/127.0.0.1/tcp/0/ws'], bootstrap: [bootstrap], dhtServer: true, records: recordRules })
  const backend = await createBackend('wasm', { threads: 1 })
  const host = await ServedSpan.load(source, backend, { start: 4, end: 5, modelId: manifest.id })
  const spans = new SpanServer(node, host)
  await spans.start()
  await serveWeights(node, () => liar)
  const now = Date.now()
  await node.putRecord(encodeRecord({
    v: 1, peer: node.peerId, name: 'hostile', model: manifest.id, modelName: source.name, nLayers: source.config.nLayers, start: 4, end: 5,
    state: 'online', throughput: 1, freeCacheTokens: host.freeCacheTokens, version: '0.1.0', addrs: node.addresses.map(a => a.slice(0, a.lastIndexOf('/p2p/'))),
    pings: {}, issuedAt: now, expiresAt: now + 600_000, platform: 'node', weights: { start: 0, end: source.config.nLayers, ends: true }, sessions: 0
  }))
  await Promise.all([topics.servers, topics.block(manifest.id, 4)].map(async t => { await node.provide(t) }))
  return {
    peer: node.peerId,
    asked: () => asked,
    stop: async () => { await spans.stop(); await node.stop(); host.close(); backend.dispose(); await honest.close() }
  }
}

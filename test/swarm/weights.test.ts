/**
 * Weights over the swarm, in one process: real libp2p nodes serving /gridllm/weights/1.0.0 from a
 * model file, one of them lying. The fetcher gets every piece right, catches the liar at its first
 * bad piece and never asks it again, resumes from what its store holds, and refuses a lying manifest.
 */
import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { join } from 'node:path'
import { type Manifest, type ModelSource, modelManifest, openModel } from '../../src/model/index.ts'
import { TensorReader } from '../../src/model/source.ts'
import { writeSyntheticGguf } from '../../src/model/synthetic.ts'
import { NetNode, type WeightsProvider, serveWeights } from '../../src/net/index.ts'
import { FileWeights, MemoryStore, WeightsFetcher, type WeightsHolder, serverItems, storeSource } from '../../src/swarm/weights/index.ts'
import { tempDir } from './harness.ts'

const PIECE = 4096

/** A provider that counts what it is asked and, when told, answers slowly or flips a byte of every piece it sends. */
class Counting implements WeightsProvider {
  reads = 0
  corrupt = false
  delayMs = 0
  lie = false
  constructor (private readonly inner: FileWeights) {}
  manifest (model: string): Uint8Array | undefined {
    const m = this.inner.manifest(model)
    if (m === undefined || !this.lie) return m
    const bad = m.slice()
    bad[10] ^= 1
    return bad
  }

  async read (model: string, item: string, offset: number, length: number): Promise<Uint8Array | undefined> {
    this.reads++
    if (this.delayMs > 0) await new Promise(resolve => setTimeout(resolve, this.delayMs))
    const bytes = await this.inner.read(model, item, offset, length)
    if (bytes !== undefined && this.corrupt) bytes[length >> 1] ^= 0x40
    return bytes
  }
}

describe('weights over the swarm', () => {
  const dir = tempDir()
  const path = join(dir.path, 'model.gguf')
  let source: ModelSource
  let manifest: Manifest
  let client: NetNode
  const peers: Array<{ node: NetNode, provider: Counting, holder: WeightsHolder }> = []

  before(async () => {
    writeSyntheticGguf(path, { dim: 64, hiddenDim: 192, nLayers: 4, nHeads: 4, nKvHeads: 2, vocabSize: 600, contextLength: 64 }, { seed: 5 })
    source = await openModel(path)
    manifest = await modelManifest(source, { pieceBytes: PIECE })
    for (let i = 0; i < 3; i++) {
      const node = await NetNode.create({ listen: ['/ip4/127.0.0.1/tcp/0'] })
      const provider = new Counting(new FileWeights(source, manifest))
      await serveWeights(node, () => provider)
      peers.push({ node, provider, holder: { peer: { id: node.peerId, addrs: node.addresses.map(a => a.slice(0, a.lastIndexOf('/p2p/'))) }, holds: () => true } })
    }
    client = await NetNode.create({})
  })

  after(async () => {
    await client?.stop()
    await Promise.all(peers.map(async p => await p.node.stop()))
    dir.remove()
  })

  /** The bytes of an item as the file has them. */
  async function fileBytes (name: string): Promise<Uint8Array> {
    const reader = new TensorReader()
    try { return await reader.read(source.tensors.get(name)!) } finally { await reader.close() }
  }

  test('a span\'s pieces come from several peers, checked; a lying peer is caught at its first bad piece and skipped', async () => {
    const liar = peers[1]!
    for (const p of peers) { p.provider.reads = 0; p.provider.delayMs = p === liar ? 0 : 3 }
    liar.provider.corrupt = true // every piece it sends is wrong; it answers fastest, so it is asked early
    const items = serverItems(manifest, 1, 3)
    const fetcher = new WeightsFetcher(client, new MemoryStore())
    let progress = 0
    const report = await fetcher.fetch(manifest, items, peers.map(p => p.holder), { perPeer: 1, onProgress: done => { progress = done } })
    for (const p of peers) p.provider.delayMs = 0
    liar.provider.corrupt = false
    assert.equal(liar.provider.reads, 1, 'caught at the first piece it sent')
    assert.equal(report.total, manifest.bytesOf(items))
    assert.equal(progress, report.total)
    assert.equal(report.reused, 0)
    assert.deepEqual(report.liars, [liar.node.peerId])
    const honest = peers.filter(p => p !== liar)
    assert.ok(honest.every(p => (report.fromPeers[p.node.peerId] ?? 0) > 0), `pieces came from every honest peer: ${JSON.stringify(report.fromPeers)}`)
    assert.equal(Object.values(report.fromPeers).reduce((a, b) => a + b, 0), report.total)
    // what was stored is the file's bytes, the victim piece included
    const loaded = await storeSource(fetcher.store, manifest, 'm')
    const reader = loaded.openReader!()
    for (const name of items.filter(n => n.includes('.'))) {
      const want = await fileBytes(name)
      const got = new Uint8Array(want.length)
      await reader.readInto(loaded.tensors.get(name)!, 0, got)
      assert.deepEqual(got, want, name)
    }
    // never asked again: a second fetch of other items does not go to the liar
    const before = liar.provider.reads
    await fetcher.fetch(manifest, serverItems(manifest, 3, 4), peers.map(p => p.holder))
    assert.equal(liar.provider.reads, before)
  })

  test('a fetch resumes: pieces in the store are not fetched again', async () => {
    const store = new MemoryStore()
    const items = serverItems(manifest, 0, 2)
    const first = new WeightsFetcher(client, store)
    await first.fetch(manifest, items.slice(0, 5), [peers[0]!.holder]) // as if stopped part way
    const have = manifest.bytesOf(items.slice(0, 5))
    const reads = peers.map(p => p.provider.reads)
    const again = await new WeightsFetcher(client, store).fetch(manifest, items, peers.map(p => p.holder))
    assert.equal(again.reused, have)
    assert.equal(Object.values(again.fromPeers).reduce((a, b) => a + b, 0), again.total - have)
    const asked = peers.reduce((n, p, i) => n + p.provider.reads - reads[i]!, 0)
    const piecesLeft = items.slice(5).reduce((n, name) => n + manifest.pieceCount(manifest.item(name)!), 0)
    assert.equal(asked, piecesLeft)
    const none = await new WeightsFetcher(client, store).fetch(manifest, items, [])
    assert.equal(none.reused, none.total) // nothing to fetch: no peer needed
  })

  test('the manifest must hash to the model id: a lying peer is skipped for an honest one', async () => {
    peers[0]!.provider.lie = true
    try {
      const fetcher = new WeightsFetcher(client, new MemoryStore())
      const got = await fetcher.manifest(manifest.id, peers.map(p => p.holder))
      assert.equal(got.id, manifest.id)
      assert.deepEqual([...fetcher.liars], [peers[0]!.node.peerId])
      await assert.rejects(new WeightsFetcher(client, new MemoryStore()).manifest(manifest.id, [peers[0]!.holder]), { code: 'WEIGHTS_UNAVAILABLE' })
    } finally {
      peers[0]!.provider.lie = false
    }
  })

  test('items nobody holds fail with WEIGHTS_UNAVAILABLE', async () => {
    const fetcher = new WeightsFetcher(client, new MemoryStore())
    await assert.rejects(fetcher.fetch(manifest, serverItems(manifest, 0, 1), peers.map(p => ({ ...p.holder, holds: () => false }))), { code: 'WEIGHTS_UNAVAILABLE' })
  })
})

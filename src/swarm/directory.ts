/**
 * Reading the swarm from the DHT: which peers provide which blocks, and their verified records.
 */
import type { NetNode, PeerAddress } from '../net/index.ts'
import { BadRecordError } from '../util/errors.ts'
import { logger } from '../util/log.ts'
import { type ServerRecord, decodeRecord, topics } from './record.ts'

const log = logger('swarm:directory')

export interface ServerInfo extends ServerRecord {
  /** the record's addresses and those the DHT knows */
  readonly addrs: readonly string[]
}

export function peerAddress (s: ServerInfo): PeerAddress {
  return { id: s.peer, addrs: s.addrs }
}

/** Runs `fn` over `items`, at most `limit` at a time. */
async function mapLimit<T, R> (items: readonly T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length)
  let next = 0
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) { const i = next++; out[i] = await fn(items[i]!) }
  }))
  return out
}

/** What the directory needs of a node: the DHT's signed records and provider records (a NetNode, or a simulated one). */
export type RecordSource = Pick<NetNode, 'peerId' | 'getRecord' | 'findProviders'>

export class Directory {
  constructor (private readonly node: RecordSource) {}

  /** A peer's record, verified (signature, fields, expiry) and matching its peer id; asked of the peer itself when its addresses are known. */
  async record (peer: PeerAddress, options: { signal?: AbortSignal } = {}): Promise<ServerInfo | undefined> {
    const payload = await this.node.getRecord(peer.id, { signal: options.signal, addrs: peer.addrs.length > 0 ? peer.addrs : undefined })
    if (payload === undefined) return undefined
    try {
      const r = decodeRecord(payload)
      if (r.peer !== peer.id) throw new BadRecordError(`record of ${peer.id} names ${r.peer}`)
      return { ...r, addrs: [...new Set([...r.addrs, ...peer.addrs])] }
    } catch (err) {
      log('ignoring the record of %s: %s', peer.id.slice(-8), (err as Error).message)
      return undefined
    }
  }

  /** Servers (not offline) of `model`, found through the provider records of each block. */
  async servers (model: string, nLayers: number, options: { signal?: AbortSignal } = {}): Promise<ServerInfo[]> {
    const perBlock = await mapLimit(Array.from({ length: nLayers }, (_, b) => b), 8,
      async b => await this.node.findProviders(topics.block(model, b), options))
    const peers = new Map<string, PeerAddress>()
    for (const list of perBlock) for (const p of list) if (p.id !== this.node.peerId) peers.set(p.id, p)
    const records = await mapLimit([...peers.values()], 8, async p => await this.record(p, options))
    return records.filter((r): r is ServerInfo => r !== undefined && r.model === model && r.state !== 'offline')
  }

  /** Every server of every model (for status). */
  async allServers (options: { signal?: AbortSignal } = {}): Promise<ServerInfo[]> {
    const peers = (await this.node.findProviders(topics.servers, options)).filter(p => p.id !== this.node.peerId)
    const records = await mapLimit(peers, 8, async p => await this.record(p, options))
    return records.filter((r): r is ServerInfo => r !== undefined)
  }
}

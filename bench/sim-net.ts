/**
 * A simulated network for the swarm's own classes (bench/sim.ts): peers on a plane whose distance
 * sets the round trip of each link, a DHT holding signed-record payloads and provider records, and
 * deaths that close the connections other peers held. SimNode offers what the Directory, the
 * SwarmClient and its Liveness use of a NetNode (records, providers, ping, connect and disconnect
 * events), so they run unchanged; nothing here opens span sessions.
 *
 * The DHT is modelled as kad behaves at this size: a lookup of a topic returns at most `k` (20) of
 * its providers, a different sample each time, and records and provider records of dead servers
 * stay readable (until they would expire), as in the real swarm.
 */
import type { PeerAddress } from '../src/net/index.ts'
import { NetworkError } from '../src/util/errors.ts'

/** A seeded generator (mulberry32), so runs can be repeated. */
export function rng (seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6D2B79F5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

export class SimWorld {
  readonly records = new Map<string, Uint8Array>()
  readonly providers = new Map<string, string[]>()
  readonly alive = new Set<string>()
  private readonly pos = new Map<string, readonly [number, number]>()
  private readonly nodes = new Map<string, SimNode>()
  /** who holds a connection to whom */
  private readonly links = new Map<string, Set<string>>()
  private nextId = 0

  constructor (readonly random: () => number, readonly k = 20) {}

  /** A new peer somewhere on the plane. */
  node (): SimNode {
    const id = `sim${(this.nextId++).toString().padStart(6, '0')}`
    this.pos.set(id, [this.random(), this.random()])
    this.alive.add(id)
    const node = new SimNode(this, id)
    this.nodes.set(id, node)
    return node
  }

  /** Round trip between two peers: 5 ms plus up to ~280 ms across the plane. */
  rttMs (a: string, b: string): number {
    const [x1, y1] = this.pos.get(a)!
    const [x2, y2] = this.pos.get(b)!
    return 5 + 200 * Math.hypot(x1 - x2, y1 - y2)
  }

  connect (a: string, b: string): void {
    for (const [x, y] of [[a, b], [b, a]] as const) {
      let set = this.links.get(x)
      if (set === undefined) { set = new Set(); this.links.set(x, set) }
      if (!set.has(y)) { set.add(y); this.nodes.get(x)?.connected(y) }
    }
  }

  isConnected (a: string, b: string): boolean {
    return this.links.get(a)?.has(b) === true
  }

  /** The peer dies without a word: every peer connected to it sees the connection close. */
  kill (peer: string): void {
    this.alive.delete(peer)
    for (const other of this.links.get(peer) ?? []) {
      this.links.get(other)?.delete(peer)
      this.nodes.get(other)?.disconnected(peer)
    }
    this.links.delete(peer)
  }

  provide (topic: string, peer: string): void {
    const list = this.providers.get(topic)
    if (list === undefined) this.providers.set(topic, [peer])
    else list.push(peer)
  }

  unprovide (topic: string, peer: string): void {
    const list = this.providers.get(topic)
    if (list === undefined) return
    const i = list.indexOf(peer)
    if (i >= 0) list.splice(i, 1)
  }

  /** At most k providers of `topic`, sampled at random. */
  sample (topic: string): string[] {
    const list = this.providers.get(topic) ?? []
    if (list.length <= this.k) return [...list]
    const picked = new Set<number>()
    while (picked.size < this.k) picked.add(Math.floor(this.random() * list.length))
    return [...picked].map(i => list[i]!)
  }
}

export class SimNode {
  private readonly onConnect: Array<(peer: string) => void> = []
  private readonly onDisconnect: Array<(peer: string) => void> = []

  constructor (private readonly world: SimWorld, readonly peerId: string) {}

  async getRecord (peer: string): Promise<Uint8Array | undefined> {
    return this.world.records.get(peer)
  }

  async findProviders (topic: string): Promise<PeerAddress[]> {
    return this.world.sample(topic).map(id => ({ id, addrs: [] }))
  }

  async ping (peer: PeerAddress, _options: { timeoutMs?: number } = {}): Promise<number> {
    if (!this.world.alive.has(peer.id)) throw new NetworkError('PEER_UNREACHABLE', `cannot ping ${peer.id}: gone`)
    this.world.connect(this.peerId, peer.id)
    return this.world.rttMs(this.peerId, peer.id)
  }

  isConnected (peer: string): boolean {
    return this.world.isConnected(this.peerId, peer)
  }

  onPeerConnect (handler: (peer: string) => void): void {
    this.onConnect.push(handler)
  }

  onPeerDisconnect (handler: (peer: string) => void): void {
    this.onDisconnect.push(handler)
  }

  connected (peer: string): void {
    for (const h of this.onConnect) h(peer)
  }

  disconnected (peer: string): void {
    for (const h of this.onDisconnect) h(peer)
  }

  async stop (): Promise<void> {}
}

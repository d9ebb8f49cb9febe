/**
 * A swarm client: a DHT-client libp2p peer that knows the servers of a model, their round trips and
 * observed speed, and which of them are banned for failing. Chain sessions (chain.ts) plan their
 * routes through it.
 */
import { NetNode, parsePeerAddress } from '../net/index.ts'
import { unref } from '../util/bytes.ts'
import { logger } from '../util/log.ts'
import { Directory, type ServerInfo, peerAddress } from './directory.ts'
import { type Plan, UNKNOWN_RTT_MS, planRoute } from './planner.ts'
import { recordRules } from './record.ts'

const log = logger('swarm:client')

export interface SwarmClientOptions {
  /** multiaddrs (with /p2p/) of peers to join through */
  bootstrap: readonly string[]
  swarmKey?: Uint8Array
  /** first ban of a failed server; doubles on each repeat. Default 15 s */
  banMs?: number
  /** give up dialing a peer after this long; default 5 s */
  dialTimeoutMs?: number
  /** how long the list of servers is reused before asking the DHT again; default 30 s */
  directoryTtlMs?: number
  signal?: AbortSignal
}

export class SwarmClient {
  readonly directory: Directory
  private readonly cache = new Map<string, { at: number, servers: ServerInfo[] }>()
  private readonly rtts = new Map<string, number>()
  private readonly observed = new Map<string, number>()
  private readonly bans = new Map<string, { until: number, count: number }>()
  private readonly watched = new Map<string, NodeJS.Timeout>()
  private readonly lookups = new Map<string, Promise<ServerInfo[]>>()
  private stopped = false

  private constructor (readonly node: NetNode, private readonly options: SwarmClientOptions) {
    this.directory = new Directory(node)
  }

  /** false for a node someone else made (a tab's, shared with its server): stop() leaves it running */
  private ownsNode = true

  /** A client on an existing node (e.g. a tab that also serves). */
  static attach (node: NetNode, options: Omit<SwarmClientOptions, 'bootstrap' | 'swarmKey' | 'dialTimeoutMs'> = {}): SwarmClient {
    const client = new SwarmClient(node, { ...options, bootstrap: [] })
    client.ownsNode = false
    return client
  }

  static async create (options: SwarmClientOptions): Promise<SwarmClient> {
    for (const b of options.bootstrap) parsePeerAddress(b) // fail early on a bad address
    const node = await NetNode.create({ bootstrap: options.bootstrap, swarmKey: options.swarmKey, records: recordRules, dialTimeoutMs: options.dialTimeoutMs, signal: options.signal })
    return new SwarmClient(node, options)
  }

  /**
   * The servers of a model, from the cache unless it is stale or `refresh` is set. A refresh keeps
   * servers it did not hear of this time while their records are valid (DHT lookups can miss some),
   * and measures new servers' round trips in the background.
   */
  async servers (model: string, nLayers: number, options: { refresh?: boolean, signal?: AbortSignal } = {}): Promise<ServerInfo[]> {
    const cached = this.cache.get(model)
    if (cached !== undefined && options.refresh !== true && Date.now() - cached.at < (this.options.directoryTtlMs ?? 30_000)) return cached.servers
    // one lookup at a time per model: callers arriving meanwhile share it
    let lookup = this.lookups.get(model)
    if (lookup === undefined) {
      lookup = this.lookup(model, nLayers, options.signal).finally(() => { this.lookups.delete(model) })
      this.lookups.set(model, lookup)
    }
    return await lookup
  }

  private async lookup (model: string, nLayers: number, signal: AbortSignal | undefined): Promise<ServerInfo[]> {
    const found = await this.directory.servers(model, nLayers, { signal })
    const now = Date.now()
    const kept = (this.cache.get(model)?.servers ?? []).filter(old => old.expiresAt > now && !found.some(s => s.peer === old.peer))
    const servers = [...found, ...kept]
    for (const s of servers) {
      if (this.rtts.has(s.peer)) continue
      this.rtts.set(s.peer, UNKNOWN_RTT_MS) // until measured
      this.node.ping(peerAddress(s), { signal: AbortSignal.timeout(3000) })
        .then(ms => { this.rtts.set(s.peer, ms) })
        .catch(err => { log('no ping from %s: %s', s.peer.slice(-8), (err as Error).message) })
    }
    this.cache.set(model, { at: now, servers })
    log('%d servers of %s (%d found now)', servers.length, model.slice(0, 8), found.length)
    return servers
  }

  /** Keeps the list of a model's servers fresh in the background (every directoryTtlMs), so failover finds replacements at once. */
  watch (model: string, nLayers: number): void {
    if (this.watched.has(model)) return
    const again = (): void => {
      const timer = setTimeout(() => {
        this.servers(model, nLayers, { refresh: true })
          .catch(err => { log('refreshing the servers of %s: %s', model.slice(0, 8), (err as Error).message) })
          .finally(() => { if (!this.stopped) again() })
      }, this.options.directoryTtlMs ?? 30_000)
      unref(timer)
      this.watched.set(model, timer)
    }
    again()
  }

  server (model: string, peer: string): ServerInfo | undefined {
    return this.cache.get(model)?.servers.find(s => s.peer === peer)
  }

  /** Plans a route over [start, end) from the servers last fetched. */
  plan (model: string, start: number, end: number, cacheTokens: number, exclude: ReadonlySet<string> = new Set()): Plan {
    const servers = (this.cache.get(model)?.servers ?? []).map(s => ({ ...s, observedBlockSeconds: this.observed.get(s.peer) }))
    const banned = new Set([...exclude, ...this.banned()])
    return planRoute({ start, end, servers, rttMs: peer => this.rtts.get(peer), banned, cacheTokens })
  }

  banned (): Set<string> {
    const now = Date.now()
    return new Set([...this.bans].filter(([, b]) => b.until > now).map(([peer]) => peer))
  }

  /** Keeps a failed server out of new routes for a while (longer each time it fails). */
  ban (peer: string): void {
    const count = (this.bans.get(peer)?.count ?? 0) + 1
    const ms = Math.min(600_000, (this.options.banMs ?? 15_000) * 2 ** (count - 1))
    this.bans.set(peer, { until: Date.now() + ms, count })
    log('banned %s for %d ms', peer.slice(-8), ms)
  }

  /** Records a measured time per block (seconds) for a server. */
  observe (peer: string, blockSeconds: number): void {
    const old = this.observed.get(peer)
    this.observed.set(peer, old === undefined ? blockSeconds : 0.7 * old + 0.3 * blockSeconds)
  }

  async stop (): Promise<void> {
    this.stopped = true
    for (const t of this.watched.values()) clearTimeout(t)
    if (this.ownsNode) await this.node.stop()
  }
}

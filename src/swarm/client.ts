/**
 * A swarm client: a DHT-client libp2p peer that knows the servers of a model, their round trips and
 * observed speed, and which of them are banned for failing. Chain sessions (chain.ts) plan their
 * routes through it.
 */
import { CAPACITY_RETRY_MS, type HopPayer, NetNode, parsePeerAddress } from '../net/index.ts'
import { NetworkError, NoRouteError, isCapacityError, retryAfterMs } from '../util/errors.ts'
import { unref } from '../util/bytes.ts'
import { logger } from '../util/log.ts'
import { Directory, type ServerInfo, peerAddress } from './directory.ts'
import { Liveness } from './liveness.ts'
import { type Plan, UNKNOWN_RTT_MS, planRoute } from './planner.ts'
import { recordRules } from './record.ts'

const log = logger('swarm:client')

const MAX_BAN_MS = 600_000
/** the longest a server that answered too slowly is left out */
const SLOW_BAN_MS = 30_000
/** how long a client with no bootstrap waits for a server on the LAN */
const LAN_WAIT_MS = 5000

export interface SwarmClientOptions {
  /** multiaddrs (with /p2p/) of peers to join through; may be empty with `mdns` */
  bootstrap: readonly string[]
  swarmKey?: Uint8Array
  /** also find servers on the LAN by mDNS; with no bootstrap, wait up to 5 s for one */
  mdns?: boolean
  /** first ban of a failed server; doubles on each repeat. Default 15 s */
  banMs?: number
  /** give up dialing a peer after this long; default 5 s */
  dialTimeoutMs?: number
  /** how long the list of servers is reused before asking the DHT again; default 30 s */
  directoryTtlMs?: number
  /** the peer's key file (a data directory's): the same peer, and account, across runs; default a new key */
  keyFile?: string
  signal?: AbortSignal
}

/** What a layer above (verification) tells routing about each server's honesty. */
export interface TrustView {
  /** never route through this peer (a checked fraud proof convicts it) */
  excluded (peer: string): boolean
  /** multiplies the peer's expected time per block: 1 for a server with a perfect record, more for less */
  factor (peer: string): number
}

export class SwarmClient {
  readonly directory: Directory
  /** set by verification; routing consults it */
  trust: TrustView | undefined
  /** servers whose connection closed and that then did not answer: left out of routes until heard from */
  readonly liveness: Liveness
  /** set by the ledger: pays for every session this client opens (chains and audits) */
  payer: HopPayer | undefined
  private readonly cache = new Map<string, { at: number, servers: ServerInfo[] }>()
  private readonly rtts = new Map<string, number>()
  private readonly observed = new Map<string, number>()
  /** per server, when each of this client's sessions on it was planned (those still open) */
  private readonly held = new Map<string, Set<{ readonly at: number }>>()
  private readonly bans = new Map<string, { until: number, count: number, why?: string }>()
  private readonly watched = new Map<string, NodeJS.Timeout>()
  private readonly lookups = new Map<string, Promise<ServerInfo[]>>()
  private stopped = false

  private constructor (readonly node: NetNode, private readonly options: SwarmClientOptions) {
    this.directory = new Directory(node)
    this.liveness = new Liveness(node, { server: peer => this.known(peer) })
  }

  /** A server of any model this client looked up. */
  private known (peer: string): { id: string, addrs: readonly string[] } | undefined {
    for (const { servers } of this.cache.values()) {
      const s = servers.find(s => s.peer === peer)
      if (s !== undefined) return peerAddress(s)
    }
    return undefined
  }

  /** false for a node someone else made (a tab's, shared with its server): stop() leaves it running */
  private ownsNode = true

  /**
   * A client on an existing node: a tab's, which also serves (left running when the client stops),
   * or one it owns from now on (`owns`: a simulated network's in bench/sim.ts).
   */
  static attach (node: NetNode, options: Omit<SwarmClientOptions, 'bootstrap' | 'swarmKey' | 'dialTimeoutMs'> = {}, owns = false): SwarmClient {
    const client = new SwarmClient(node, { ...options, bootstrap: [] })
    client.ownsNode = owns
    return client
  }

  static async create (options: SwarmClientOptions): Promise<SwarmClient> {
    for (const b of options.bootstrap) parsePeerAddress(b) // fail early on a bad address
    const node = await NetNode.create({
      bootstrap: options.bootstrap, swarmKey: options.swarmKey, records: recordRules, dialTimeoutMs: options.dialTimeoutMs, keyFile: options.keyFile,
      reach: { relayService: 'off' }, mdns: options.mdns === true ? 'ask' : undefined, signal: options.signal
    })
    if (options.bootstrap.length === 0 && !await node.waitForPeers(LAN_WAIT_MS, options.signal).catch(async err => { await node.stop(); throw err })) {
      await node.stop()
      throw new NetworkError('PEER_UNREACHABLE', `no gridllm server answered on this LAN (mDNS) within ${LAN_WAIT_MS / 1000} s; pass --bootstrap <multiaddr>`)
    }
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
    const foundPeers = new Set(found.map(s => s.peer))
    const kept = (this.cache.get(model)?.servers ?? []).filter(old => old.expiresAt > now && !foundPeers.has(old.peer))
    const servers = [...found, ...kept]
    for (const s of servers) {
      if (this.rtts.has(s.peer)) continue
      this.rtts.set(s.peer, UNKNOWN_RTT_MS) // until measured
      this.node.ping(peerAddress(s), { timeoutMs: 3000 })
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

  /** Blocks of a model no server (known from the last lookup, not banned) covers; `undefined` before any lookup. */
  uncovered (model: string, nLayers: number): number[] | undefined {
    const cached = this.cache.get(model)
    if (cached === undefined) return undefined
    const banned = this.banned()
    const covered = new Uint8Array(nLayers)
    for (const s of cached.servers) {
      if (banned.has(s.peer) || s.state === 'offline') continue
      for (let b = Math.max(0, s.start); b < Math.min(nLayers, s.end); b++) covered[b] = 1
    }
    return [...covered.keys()].filter(b => covered[b] === 0)
  }

  server (model: string, peer: string): ServerInfo | undefined {
    return this.cache.get(model)?.servers.find(s => s.peer === peer)
  }

  /** Plans a route over [start, end) from the servers last fetched. */
  plan (model: string, start: number, end: number, cacheTokens: number, exclude: ReadonlySet<string> = new Set()): Plan {
    // read through lookups, not copies: with thousands of servers known, a copy of each per plan costs more than the search
    const servers = this.cache.get(model)?.servers ?? []
    const issued = new Map<string, number>()
    for (const s of servers) issued.set(s.peer, s.issuedAt)
    const now = Date.now()
    const banned = {
      has: (peer: string): boolean => exclude.has(peer) || (this.bans.get(peer)?.until ?? 0) > now ||
        this.trust?.excluded(peer) === true || this.liveness.isGone(peer, issued.get(peer))
    }
    try {
      return planRoute({
        start, end, servers, banned, cacheTokens, rttMs: peer => this.rtts.get(peer),
        observedBlockSeconds: peer => this.observed.get(peer), trustFactor: peer => this.trust?.factor(peer),
        newSessions: peer => this.heldSince(peer, issued.get(peer) ?? 0)
      })
    } catch (err) {
      if (!(err instanceof NoRouteError)) throw err
      // say why the servers that would have covered it are left out, or "no route" hides a refusal
      const why = new Map<string, number>()
      for (const s of servers) {
        if (s.end <= start || s.start >= end || exclude.has(s.peer)) continue
        const reason = this.liveness.isGone(s.peer, s.issuedAt)
          ? 'gone'
          : this.trust?.excluded(s.peer) === true ? 'convicted' : (this.bans.get(s.peer)?.until ?? 0) > now ? this.bans.get(s.peer)?.why ?? 'banned' : undefined
        if (reason !== undefined) why.set(reason, (why.get(reason) ?? 0) + 1)
      }
      if (why.size === 0) throw err
      const reasons = [...why].sort((a, b) => b[1] - a[1]).slice(0, 3).map(([r, n]) => `${n} ${r}`)
      throw new NoRouteError(`${err.message} (servers left out: ${reasons.join('; ')})`)
    }
  }

  /**
   * Who could cover [start, end): 'live' if servers not found gone (banned or not) cover every
   * block, 'gone' if some block's known servers are all gone (or excluded), 'unknown' if some block
   * has no known server at all (a lookup may not have found it yet).
   */
  coverage (model: string, start: number, end: number, exclude: ReadonlySet<string> = new Set()): 'live' | 'gone' | 'unknown' {
    const servers = this.cache.get(model)?.servers ?? []
    let result: 'live' | 'gone' | 'unknown' = 'live'
    for (let b = start; b < end; b++) {
      const known = servers.filter(s => s.start <= b && b < s.end)
      if (known.length === 0) return 'unknown'
      if (!known.some(s => !exclude.has(s.peer) && !this.liveness.isGone(s.peer, s.issuedAt))) result = 'gone'
    }
    return result
  }

  /** When a ban of `peer` ends (ms since the epoch), or undefined if it is not banned. */
  bannedUntil (peer: string): number | undefined {
    const until = this.bans.get(peer)?.until
    return until !== undefined && until > Date.now() ? until : undefined
  }

  banned (): Set<string> {
    const now = Date.now()
    return new Set([...this.bans].filter(([, b]) => b.until > now).map(([peer]) => peer))
  }

  /** Keeps a failed server out of new routes for a while (longer each time it fails), or for `ms`. */
  ban (peer: string, ms?: number, why?: string): void {
    const old = this.bans.get(peer)
    const count = (old?.count ?? 0) + (ms === undefined ? 1 : 0)
    const span = ms ?? Math.min(MAX_BAN_MS, (this.options.banMs ?? 15_000) * 2 ** (count - 1))
    const until = Math.max(old?.until ?? 0, Date.now() + span)
    this.bans.set(peer, { until, count, why: why ?? old?.why })
    log('banned %s for %d ms', peer.slice(-8), until - Date.now())
  }

  /**
   * Keeps a server out of new routes according to how it failed: a capacity refusal only for its
   * retry hint (it is full, not broken); a step it did not answer in time for at most SLOW_BAN_MS
   * (step timeouts follow measured speed, so a loaded machine trips them; a frozen one trips them
   * again); refusing the span it announced, or an output that cannot be right, for as long as the
   * record that made the claim stands; anything else as ban() does.
   */
  penalize (model: string, peer: string, err: unknown): void {
    const code = (err as { code?: string } | undefined)?.code ?? ''
    const why = `${code === '' ? 'failed' : code}: ${(err as Error | undefined)?.message ?? String(err)}`.slice(0, 200)
    if (isCapacityError(err)) { this.ban(peer, retryAfterMs(err) ?? CAPACITY_RETRY_MS, why); return }
    if (code === 'TIMEOUT') { this.ban(peer, Math.min(SLOW_BAN_MS, this.options.banMs ?? 15_000), why); return }
    if (code === 'PEER_UNREACHABLE') this.liveness.check(peer) // gone if the probe is refused; banned in any case, below
    if (code === 'SPAN_NOT_SERVED' || code === 'WRONG_MODEL' || code === 'BAD_OUTPUT') {
      const claim = this.server(model, peer)?.expiresAt ?? 0
      this.ban(peer, Math.min(MAX_BAN_MS, Math.max(this.options.banMs ?? 15_000, claim - Date.now())), why)
      return
    }
    this.ban(peer, undefined, why)
  }

  /**
   * Counts a session of this client on `peer` from now until the returned release is called, so
   * routes planned meanwhile see its load before the server's next record does.
   */
  hold (peer: string): () => void {
    const entry = { at: Date.now() }
    const set = this.held.get(peer) ?? new Set()
    this.held.set(peer, set)
    set.add(entry)
    return () => {
      set.delete(entry)
      if (set.size === 0 && this.held.get(peer) === set) this.held.delete(peer)
    }
  }

  /** This client's sessions open on `peer` now. */
  sessionsOn (peer: string): number {
    return this.held.get(peer)?.size ?? 0
  }

  /** This client's open sessions on `peer` planned after `since` (ms): ones its record of then cannot count. */
  private heldSince (peer: string, since: number): number {
    let n = 0
    for (const e of this.held.get(peer) ?? []) if (e.at >= since) n++
    return n
  }

  /** The measured time per block (seconds) of a server, if the client has timed it. */
  observedBlockSeconds (peer: string): number | undefined {
    return this.observed.get(peer)
  }

  /** Records a measured time per block (seconds) for a server. */
  observe (peer: string, blockSeconds: number): void {
    const old = this.observed.get(peer)
    this.observed.set(peer, old === undefined ? blockSeconds : 0.7 * old + 0.3 * blockSeconds)
  }

  async stop (): Promise<void> {
    this.stopped = true
    this.liveness.stop()
    for (const t of this.watched.values()) clearTimeout(t)
    if (this.ownsNode) await this.node.stop()
  }
}

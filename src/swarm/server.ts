/**
 * A swarm server: a libp2p peer that loads one span of a model, benchmarks it, serves the span
 * protocol and keeps its signed record and provider records fresh in the DHT. With `blocks: 'auto'`
 * it picks its span from what the swarm announced and periodically considers moving. It also sends
 * the weights it holds to peers that ask (/gridllm/weights/1.0.0): all of them from a model file,
 * its span's from a model id whose weights it fetched from the swarm itself.
 */
import { type Backend, type BackendName, createBackend } from '../kernels/index.ts'
import type { BatchOptions, Manifest, ModelSource } from '../model/index.ts'
import { NetNode, type NetNodeOptions, type PaymentGate, PROOFS_PROTOCOL, ProofStore, type RelayService, SPAN_PROTOCOL, type SpanHost, SpanServer, type SpanServerOptions, WEIGHTS_PROTOCOL, serveWeights } from '../net/index.ts'
import { InvalidArgumentError, NoRouteError, isAbortError } from '../util/errors.ts'
import { unref } from '../util/bytes.ts'
import { deadline } from '../util/timeout.ts'
import { logger } from '../util/log.ts'
import { chooseStart, rebalance } from './blocks.ts'
import { Directory, type ServerInfo, peerAddress } from './directory.ts'
import { ServedSpan } from './host.ts'
import { Liveness } from './liveness.ts'
import { type Platform, type ServerRecord, type ServerState, MAX_REPORTED_EARNED, encodeRecord, recordRules, topics } from './record.ts'
import { type ServedModel, fileModel, swarmModel } from './served-model.ts'
import { FsStore, type PieceStore } from './weights/index.ts'

const log = logger('swarm:server')

/** The limits a server operator sets (flags of `gridllm serve`). */
export type ServerLimits = Pick<SpanServerOptions, 'maxSessions' | 'maxSessionsPerPeer' | 'peerCacheShare' | 'maxQueuedStepsPerPeer' | 'sessionIdleMs' | 'maxStreamsPerConnection' | 'maxBufferedBytesPerPeer'> & {
  /** connections kept open; the idlest go first past it */
  maxConnections?: number
}

/** What the ledger (src/ledger) gives a server that charges for its work. */
export interface ServerCredits {
  /** µcr per block-token, announced in the record */
  readonly price: number
  /** µcr a consumer should settle at, announced in the record */
  readonly payThreshold: number
  /** µcr the account has earned so far, reported in the record (read at each announce) */
  earned? (): number
  readonly gate: PaymentGate
  stop (): Promise<void>
}

/** Makes a server's credits once its node exists; `servers` lists the swarm's other servers of the model. */
export type ServerCreditsFactory = (node: NetNode, swarm: { modelId: string | undefined, servers: () => Promise<ServerInfo[]> }) => Promise<ServerCredits>

/** What a server runs a span on: ServedSpan in this process, or a proxy to a worker (a tab). */
export interface SpanService extends SpanHost {
  readonly start: number
  readonly end: number
  readonly openSessions: number
  /** single-token steps per second through the span */
  benchmark (options?: { seconds?: number, signal?: AbortSignal }): Promise<number>
  /** stops taking sessions; frees the weights once the open ones close */
  retire (): void
  close (): void
}

export interface SpanLoadRequest {
  readonly source: ModelSource
  readonly manifest: Manifest
  readonly modelId: string
  readonly start: number
  readonly end: number
  readonly cacheBudgetBytes?: number
  readonly signal?: AbortSignal
}

export type SpanLoader = (request: SpanLoadRequest) => Promise<SpanService>

/** The protocols a server adds to a node it was given (a tab's), removed again when it stops. */
const SERVER_PROTOCOLS = [SPAN_PROTOCOL, WEIGHTS_PROTOCOL, PROOFS_PROTOCOL]

export interface ServeOptions {
  /** model file or folder */
  model?: string
  /** or a model id: its manifest and the span's weights come from the swarm */
  modelId?: string
  /** where weights fetched from the swarm are kept (resumable); default: a folder under `cacheDir` */
  store?: PieceStore
  /** the folder for `store`; required with `modelId` unless `store` is given */
  cacheDir?: string
  /** [start, end), or 'auto' to choose from what the swarm needs */
  blocks: readonly [number, number] | 'auto'
  /** with 'auto': how many blocks to take; default all of them */
  numBlocks?: number
  listen?: readonly string[]
  announce?: readonly string[]
  bootstrap?: readonly string[]
  swarmKey?: Uint8Array
  /** offer relay service to peers behind NAT: 'auto' (default) while AutoNAT finds this server public */
  relayService?: RelayService
  /** find and be found by peers on the LAN (mDNS); default false */
  mdns?: boolean
  /** the peer's key file (a data directory's): a restarted server is the same peer; default a new key */
  keyFile?: string
  /** charge for the work (the ledger); none: free */
  credits?: ServerCreditsFactory
  /** a node to serve on (a tab's); it is the caller's to stop. Default: a new one, a DHT server */
  node?: NetNode
  /** more options for the new node (transports) */
  net?: Pick<NetNodeOptions, 'transports' | 'relay'>
  name?: string
  /** announced in the record; default node */
  platform?: Platform
  backend?: BackendName | 'auto'
  threads?: number
  /** how spans are loaded; default ServedSpan in this process on `backend` */
  loadSpan?: SpanLoader
  cacheBudgetBytes?: number
  /** how concurrent sessions' steps are gathered into one forward (spans loaded in this process) */
  batch?: BatchOptions
  maxFrameBytes?: number
  /** what one peer may hold and the server's other limits (see SpanServerOptions) */
  limits?: ServerLimits
  /** how often the record is re-announced; it expires after twice this. Default 60 s */
  announcePeriodMs?: number
  /** with 'auto': how often to consider moving (± 50 % jitter). Default 120 s */
  rebalancePeriodMs?: number
  version: string
  signal?: AbortSignal
  /** progress notes for the operator */
  onNote?: (note: string) => void
  /** bytes of weights at hand while loading from a file (hashing it) or fetching from the swarm */
  onProgress?: (done: number, total: number) => void
}

export class SwarmServer {
  private state: ServerState = 'joining'
  private throughput = 0
  private pings: Record<string, number> = {}
  private readonly timers = new Set<ReturnType<typeof setTimeout>>()
  private moving = false
  private stopped = false
  /** the addresses (and whether relayed) in the last record announced */
  private announcedAddresses = ''
  /** the other servers last read from the directory */
  private readonly known = new Map<string, ServerInfo>()
  /** the last read of the directory (or the one under way) and when it began */
  private view: { at: number, servers: Promise<ServerInfo[]> } | undefined
  /** servers whose connection closed and that did not answer since: not counted when choosing blocks */
  private readonly liveness: Liveness

  private constructor (
    readonly node: NetNode,
    private readonly options: ServeOptions,
    readonly model: ServedModel,
    private readonly loadSpan: SpanLoader,
    private readonly dispose: () => Promise<void>,
    private host: SpanService,
    private readonly spanServer: SpanServer,
    private readonly directory: Directory,
    readonly credits: ServerCredits | undefined
  ) {
    this.liveness = new Liveness(node, { server: peer => { const r = this.known.get(peer); return r === undefined ? undefined : peerAddress(r) } })
  }

  /**
   * The other servers of this model, leaving out those found gone. The directory is read at most
   * once per view period (round trips and rebalancing share that view): each read walks the DHT for
   * every block and asks every server for its record, so reading it more often would cost the swarm
   * O(servers²) queries per period for little; a death shows sooner through liveness, and a
   * newcomer reads the directory itself when it picks its blocks.
   */
  private async others (): Promise<ServerInfo[]> {
    if (this.view === undefined || performance.now() - this.view.at > 0.9 * this.viewPeriod) {
      const read = this.directory.servers(this.modelId, this.model.config.nLayers).then(all => {
        this.known.clear()
        for (const s of all) this.known.set(s.peer, s)
        return all
      })
      this.view = { at: performance.now(), servers: read }
      read.catch(() => { if (this.view?.servers === read) this.view = undefined })
    }
    const all = await this.view.servers
    return all.filter(s => !this.liveness.isGone(s.peer, s.issuedAt))
  }

  get modelId (): string {
    return this.model.modelId
  }

  static async start (options: ServeOptions): Promise<SwarmServer> {
    const { signal } = options
    const note = options.onNote ?? (() => {})
    if ((options.model === undefined) === (options.modelId === undefined)) throw new InvalidArgumentError('serve a model file or a model id (one of them)')
    const node = options.node ?? await NetNode.create({
      listen: withWebSockets(options.listen ?? ['/ip4/0.0.0.0/tcp/0']),
      relay: true,
      announce: options.announce,
      bootstrap: options.bootstrap,
      swarmKey: options.swarmKey,
      dhtServer: true,
      records: recordRules,
      providerValidityMs: 2 * (options.announcePeriodMs ?? 60_000),
      maxConnections: options.limits?.maxConnections,
      // behind NAT a server reserves a relay slot and announces the relayed address
      reach: { relayService: options.relayService ?? 'auto', reserveRelay: true },
      mdns: options.mdns === true ? 'announce' : undefined,
      keyFile: options.keyFile,
      ...options.net,
      signal
    })
    let credits: ServerCredits | undefined
    let backend: Backend | undefined
    let model: ServedModel | undefined
    let host: SpanService | undefined
    try {
      const directory = new Directory(node)
      if (options.modelId !== undefined) {
        note(`fetching the manifest of model ${options.modelId} from the swarm`)
        const store = options.store ?? new FsStore(options.cacheDir ?? missingCache())
        model = await swarmModel(options.modelId, node, directory, store, { signal })
      } else {
        note(`hashing ${options.model!} for its manifest and model id`)
        model = await fileModel(options.model!, { signal, onProgress: options.onProgress })
      }
      const { modelId, config } = model
      const nLayers = config.nLayers
      let span: readonly [number, number]
      if (options.blocks === 'auto') {
        const length = Math.min(nLayers, options.numBlocks ?? nLayers)
        const others = await directory.servers(modelId, nLayers, { signal })
        const guess = others.length > 0 ? Math.min(...others.map(o => o.throughput)) : 1
        const start = chooseStart(nLayers, length, guess, others)
        span = [start, start + length]
        note(`chose blocks ${span[0]}:${span[1]} (${others.length} other servers)`)
      } else span = options.blocks
      if (!(span[0] >= 0 && span[0] < span[1] && span[1] <= nLayers)) throw new InvalidArgumentError(`blocks ${span[0]}:${span[1]} are not a span of the model's ${nLayers} blocks`)
      let loadSpan = options.loadSpan
      if (loadSpan === undefined) {
        const b = backend = await createBackend(options.backend ?? 'auto', { threads: options.threads })
        loadSpan = async r => await ServedSpan.load(r.source, b, { start: r.start, end: r.end, modelId: r.modelId, cacheBudgetBytes: r.cacheBudgetBytes, batch: options.batch, signal: r.signal })
      }
      if (options.modelId !== undefined) note(`fetching the weights of blocks ${span[0]}:${span[1]} from the swarm`)
      const source = await model.prepare(span[0], span[1], { signal, onProgress: options.onProgress })
      note(`loading blocks ${span[0]}:${span[1]} of ${model.name}`)
      host = await loadSpan({ source, manifest: model.manifest, modelId, start: span[0], end: span[1], cacheBudgetBytes: options.cacheBudgetBytes, signal })
      credits = await options.credits?.(node, { modelId, servers: async () => await directory.servers(modelId, nLayers) })
      const spanServer = new SpanServer(node, host, {
        ...options.limits,
        maxFrameBytes: options.maxFrameBytes,
        maxSessionLength: config.contextLength,
        checkNextHop: nextHopCheck(directory, modelId),
        payments: credits?.gate
      })
      const served = model
      const ownBackend = backend
      const dispose = async (): Promise<void> => {
        await served.close()
        ownBackend?.dispose()
        if (options.node === undefined) await node.stop()
      }
      const server = new SwarmServer(node, options, model, loadSpan, dispose, host, spanServer, directory, credits)
      await serveWeights(node, () => served.provider)
      const joining = server.announce(host, { signal }) // meanwhile, measure
      server.throughput = await host.benchmark({ seconds: 0.5, signal })
      await joining
      note(`benchmark: ${server.throughput.toFixed(2)} tokens/s through ${span[1] - span[0]} blocks`)
      await spanServer.start()
      await new ProofStore(node).start()
      server.state = 'online'
      await server.announce(host, { signal })
      server.schedule()
      return server
    } catch (err) {
      await credits?.stop()
      host?.close()
      await model?.close()
      if (options.node === undefined) await node.stop()
      else await Promise.all(SERVER_PROTOCOLS.map(async p => { await node.unhandle(p).catch(() => {}) }))
      backend?.dispose()
      throw err
    }
  }

  /** Measures the span now: single-token steps per second through it (what the record announces). */
  async benchmark (seconds = 1): Promise<number> {
    return await this.host.benchmark({ seconds })
  }

  get span (): readonly [number, number] {
    return [this.host.start, this.host.end]
  }

  get addresses (): string[] {
    return this.node.addresses
  }

  /** The record this server announces now. */
  record (host: SpanService = this.host): ServerRecord {
    const now = Date.now()
    return {
      v: 1,
      peer: this.node.peerId,
      name: this.options.name ?? '',
      model: this.modelId,
      modelName: this.model.name,
      nLayers: this.model.config.nLayers,
      start: host.start,
      end: host.end,
      state: this.state,
      throughput: this.throughput,
      freeCacheTokens: host.freeCacheTokens,
      version: this.options.version,
      addrs: this.node.addresses.map(a => a.slice(0, a.lastIndexOf('/p2p/'))),
      reach: this.node.relayed ? 'relayed' : 'direct',
      pings: this.pings,
      ...(this.credits !== undefined && this.credits.price > 0 ? { price: this.credits.price, payThreshold: this.credits.payThreshold } : {}),
      ...(this.credits?.earned !== undefined ? { earned: this.reportedEarned(this.credits.earned) } : {}),
      issuedAt: now,
      expiresAt: now + 2 * this.announcePeriod,
      platform: this.options.platform ?? 'node',
      weights: this.model.held(host.start, host.end),
      sessions: this.spanServer.openSessions
    }
  }

  /** The account's earnings for the record; a ledger that cannot be read reports nothing rather than failing the announce. */
  private reportedEarned (read: () => number): number | undefined {
    try {
      const n = read()
      return Number.isSafeInteger(n) && n >= 0 ? Math.min(n, MAX_REPORTED_EARNED) : undefined
    } catch (err) {
      log('reading the earnings for the record: %s', (err as Error).message)
      return undefined
    }
  }

  private get announcePeriod (): number {
    return this.options.announcePeriodMs ?? 60_000
  }

  private get rebalancePeriod (): number {
    return this.options.rebalancePeriodMs ?? 120_000
  }

  /** how long one read of the directory serves: the longer of the announce and (with --blocks auto) rebalance periods */
  private get viewPeriod (): number {
    return Math.max(this.announcePeriod, this.options.blocks === 'auto' ? this.rebalancePeriod : 0)
  }

  /** Publishes the record, then the provider records of every block and of the server index. */
  private async announce (host: SpanService, options: { signal?: AbortSignal } = {}): Promise<void> {
    const record = this.record(host)
    this.announcedAddresses = JSON.stringify([this.node.addresses, this.node.relayed])
    await this.node.putRecord(encodeRecord(record), options)
    const names = [topics.servers]
    for (let b = host.start; b < host.end; b++) names.push(topics.block(this.modelId, b))
    await Promise.all(names.map(async t => { await this.node.provide(t, options) }))
    log('announced %s [%d, %d) %s', this.node.peerId.slice(-8), host.start, host.end, this.state)
  }

  private schedule (): void {
    // a server that announced alone (the first of a swarm) holds its provider records by itself;
    // announce again once it has company, so the records spread
    let lonely = this.node.connectedPeers.length === 0
    this.node.onPeerConnect(() => {
      if (!lonely || this.stopped) return
      lonely = false
      const t = setTimeout(() => { void this.announce(this.host).catch(err => { log('announce: %s', (err as Error).message) }) }, 1000)
      unref(t)
    })
    // a new address (a relay slot reserved, a public address confirmed) is announced at once
    const note = this.options.onNote ?? (() => {})
    const reachNote = (): string => this.node.reach === 'nat' ? 'behind NAT, looking for a relay' : this.node.reach
    this.node.onReachChange(() => { note(`reachability: ${reachNote()}`) })
    const reachable = (): string => JSON.stringify([this.node.addresses, this.node.relayed])
    const addressNote = (): void => {
      note(this.node.relayed ? `behind NAT: reachable through a relay at ${this.node.addresses.find(a => a.includes('/p2p-circuit')) ?? '?'}` : `addresses: ${this.node.addresses.join(', ')} (${this.node.reach})`)
    }
    if (this.node.reach !== 'local') note(`reachability: ${reachNote()}`)
    if (this.node.relayed) addressNote()
    const changed = (): void => {
      if (this.stopped || reachable() === this.announcedAddresses) return
      this.announcedAddresses = reachable()
      addressNote()
      const t = setTimeout(() => { void this.announce(this.host).catch(err => { log('announce: %s', (err as Error).message) }) }, 500)
      unref(t)
    }
    this.node.onAddressesChange(changed)
    changed() // they may have changed since the last announcement
    const every = (ms: () => number, task: () => Promise<void>): void => {
      const run = (): void => {
        const t: ReturnType<typeof setTimeout> = setTimeout(() => {
          this.timers.delete(t)
          void task().catch(err => { if (!this.stopped) log('periodic task failed: %s', (err as Error).message) }).finally(() => { if (!this.stopped) run() })
        }, ms())
        unref(t)
        this.timers.add(t)
      }
      run()
    }
    // new addresses (a tab's relay reservation) are announced at once: they are how peers reach it
    let pending: ReturnType<typeof setTimeout> | undefined
    this.node.onAddressChange(() => {
      if (this.stopped || pending !== undefined) return
      pending = unref(setTimeout(() => {
        pending = undefined
        void this.announce(this.host).catch(err => { log('announce: %s', (err as Error).message) })
      }, 500))
    })
    let failed = false
    every(() => failed ? Math.min(5000, this.announcePeriod) : this.announcePeriod, async () => {
      await this.measurePings().catch(err => { log('measuring round trips: %s', (err as Error).message) })
      failed = true // until this announce succeeds: retried soon, records must not lapse
      await this.announce(this.host)
      failed = false
    })
    if (this.options.blocks === 'auto') {
      every(() => this.rebalancePeriod * (0.5 + Math.random()), async () => { await this.considerMove() })
    }
  }

  /** Round trips to a few servers of the block after this span (the planner's link costs). */
  private async measurePings (): Promise<void> {
    const { end } = this.host
    const nLayers = this.model.config.nLayers
    if (end >= nLayers) return
    const next = (await this.others()).filter(s => s.start <= end && end < s.end).slice(0, 5)
    const pings: Record<string, number> = {}
    await Promise.all(next.map(async s => {
      try {
        const ms = await this.node.ping(peerAddress(s), { timeoutMs: 5000 })
        const old = this.pings[s.peer]
        pings[s.peer] = old === undefined ? ms : 0.8 * old + 0.2 * ms
      } catch { /* unreachable: leave it out */ }
    }))
    this.pings = pings
  }

  /** Moves to another span when that clearly helps the swarm's weakest block. */
  async considerMove (): Promise<boolean> {
    if (this.moving || this.stopped) return false
    const nLayers = this.model.config.nLayers
    const others = await this.others()
    const self = { start: this.host.start, end: this.host.end, throughput: this.throughput }
    const d = rebalance(nLayers, self, others)
    log('rebalance: weakest block %f now, %f after moving to %d: %s', d.minNow, d.minAfter, d.start, d.move ? 'move' : 'stay')
    if (!d.move) return false
    this.moving = true
    try {
      const length = self.end - self.start
      this.options.onNote?.(`moving to blocks ${d.start}:${d.start + length}`)
      const source = await this.model.prepare(d.start, d.start + length)
      const host = await this.loadSpan({ source, manifest: this.model.manifest, modelId: this.modelId, start: d.start, end: d.start + length, cacheBudgetBytes: this.options.cacheBudgetBytes })
      const old = this.host
      this.host = host
      this.spanServer.setHost(host)
      await this.announce(host)
      old.retire() // sessions already open finish on the old span
      return true
    } finally {
      this.moving = false
    }
  }

  /** Announces offline, closes every session and leaves the swarm. */
  async stop (): Promise<void> {
    if (this.stopped) return
    this.stopped = true
    this.liveness.stop()
    for (const t of this.timers) clearTimeout(t)
    this.state = 'offline'
    const limit = deadline(2000)
    try {
      await this.node.putRecord(encodeRecord(this.record()), { signal: limit.signal })
    } catch (err) {
      if (!isAbortError(err) && (err as { code?: string }).code !== 'TIMEOUT') log('could not announce offline: %s', (err as Error).message)
    } finally {
      limit.clear()
    }
    await this.spanServer.stop()
    await this.credits?.stop()
    if (this.options.node !== undefined) await Promise.all(SERVER_PROTOCOLS.map(async p => { await this.node.unhandle(p).catch(() => {}) }))
    this.host.close()
    await this.dispose()
  }
}


/**
 * Push targets must be servers of the next block of this model, as their signed records say; the
 * records' own addresses are dialed, never the ones a client names. Answers are kept for a minute.
 */
export function nextHopCheck (directory: Directory, modelId: string): NonNullable<SpanServerOptions['checkNextHop']> {
  const known = new Map<string, { at: number, record: ServerInfo }>()
  const serves = (r: ServerInfo, block: number): boolean => r.model === modelId && r.state !== 'offline' && r.start <= block && block < r.end
  const lookup = async (peer: string, signal: AbortSignal | undefined): Promise<ServerInfo | undefined> => {
    const limit = deadline(10_000, signal)
    try {
      return await directory.record({ id: peer, addrs: [] }, { signal: limit.signal })
    } finally {
      limit.clear()
    }
  }
  return async (next, block, options) => {
    const cached = known.get(next.peer)
    // only confirmations are kept, for a minute; anything else is looked up afresh
    let record = cached !== undefined && Date.now() - cached.at < 60_000 && serves(cached.record, block) ? cached.record : undefined
    if (record === undefined) {
      record = await lookup(next.peer, options.signal)
      if (record === undefined || !serves(record, block)) throw new NoRouteError(`${next.peer.slice(-8)} does not serve block ${block} of this model`)
      known.set(next.peer, { at: Date.now(), record })
      if (known.size > 1024) known.delete(known.keys().next().value!)
    }
    return peerAddress(record)
  }
}

/** Tabs reach native nodes over WebSockets only: a TCP listen address gets a WebSockets sibling on the same host (any port). */
export function withWebSockets (listen: readonly string[]): string[] {
  if (listen.some(a => /\/wss?(\/|$)/.test(a))) return [...listen]
  const hosts = listen.flatMap(a => { const m = /^(\/ip[46]\/[^/]+|\/dns[46]?\/[^/]+)\/tcp\/\d+$/.exec(a); return m === null ? [] : [m[1]!] })
  return [...listen, ...[...new Set(hosts)].map(h => `${h}/tcp/0/ws`)]
}

function missingCache (): never {
  throw new InvalidArgumentError('a server fetching its weights from the swarm needs a cache folder', { param: 'cacheDir' })
}


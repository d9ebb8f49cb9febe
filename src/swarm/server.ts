/**
 * A swarm server: a libp2p peer that loads one span of a model, benchmarks it, serves the span
 * protocol and keeps its signed record and provider records fresh in the DHT. With `blocks: 'auto'`
 * it picks its span from what the swarm announced and periodically considers moving. It also sends
 * the weights it holds to peers that ask (/gridllm/weights/1.0.0): all of them from a model file,
 * its span's from a model id whose weights it fetched from the swarm itself.
 */
import { type Backend, type BackendName, createBackend } from '../kernels/index.ts'
import type { Manifest, ModelSource } from '../model/index.ts'
import { NetNode, type NetNodeOptions, SPAN_PROTOCOL, type SpanHost, SpanServer, WEIGHTS_PROTOCOL, serveWeights } from '../net/index.ts'
import { InvalidArgumentError, isAbortError } from '../util/errors.ts'
import { unref } from '../util/bytes.ts'
import { logger } from '../util/log.ts'
import { chooseStart, rebalance } from './blocks.ts'
import { Directory, peerAddress } from './directory.ts'
import { ServedSpan } from './host.ts'
import { type Platform, type ServerRecord, type ServerState, encodeRecord, recordRules, topics } from './record.ts'
import { type ServedModel, fileModel, swarmModel } from './served-model.ts'
import { FsStore, type PieceStore } from './weights/index.ts'

const log = logger('swarm:server')

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
  maxFrameBytes?: number
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

  private constructor (
    readonly node: NetNode,
    private readonly options: ServeOptions,
    readonly model: ServedModel,
    private readonly loadSpan: SpanLoader,
    private readonly dispose: () => Promise<void>,
    private host: SpanService,
    private readonly spanServer: SpanServer,
    private readonly directory: Directory
  ) {}

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
      ...options.net,
      signal
    })
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
        loadSpan = async r => await ServedSpan.load(r.source, b, { start: r.start, end: r.end, modelId: r.modelId, cacheBudgetBytes: r.cacheBudgetBytes, signal: r.signal })
      }
      if (options.modelId !== undefined) note(`fetching the weights of blocks ${span[0]}:${span[1]} from the swarm`)
      const source = await model.prepare(span[0], span[1], { signal, onProgress: options.onProgress })
      note(`loading blocks ${span[0]}:${span[1]} of ${model.name}`)
      host = await loadSpan({ source, manifest: model.manifest, modelId, start: span[0], end: span[1], cacheBudgetBytes: options.cacheBudgetBytes, signal })
      const spanServer = new SpanServer(node, host, { maxFrameBytes: options.maxFrameBytes, maxSessionLength: config.contextLength })
      const served = model
      const ownBackend = backend
      const dispose = async (): Promise<void> => {
        await served.close()
        ownBackend?.dispose()
        if (options.node === undefined) await node.stop()
      }
      const server = new SwarmServer(node, options, model, loadSpan, dispose, host, spanServer, directory)
      await serveWeights(node, () => served.provider)
      const joining = server.announce(host, { signal }) // meanwhile, measure
      server.throughput = await host.benchmark({ seconds: 0.5, signal })
      await joining
      note(`benchmark: ${server.throughput.toFixed(2)} tokens/s through ${span[1] - span[0]} blocks`)
      await spanServer.start()
      server.state = 'online'
      await server.announce(host, { signal })
      server.schedule()
      return server
    } catch (err) {
      host?.close()
      await model?.close()
      if (options.node === undefined) await node.stop()
      else await Promise.all([SPAN_PROTOCOL, WEIGHTS_PROTOCOL].map(async p => { await node.unhandle(p).catch(() => {}) }))
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
      pings: this.pings,
      issuedAt: now,
      expiresAt: now + 2 * this.announcePeriod,
      platform: this.options.platform ?? 'node',
      weights: this.model.held(host.start, host.end),
      sessions: this.spanServer.openSessions
    }
  }

  private get announcePeriod (): number {
    return this.options.announcePeriodMs ?? 60_000
  }

  /** Publishes the record, then the provider records of every block and of the server index. */
  private async announce (host: SpanService, options: { signal?: AbortSignal } = {}): Promise<void> {
    await this.node.putRecord(encodeRecord(this.record(host)), options)
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
      const period = this.options.rebalancePeriodMs ?? 120_000
      every(() => period * (0.5 + Math.random()), async () => { await this.considerMove() })
    }
  }

  /** Round trips to a few servers of the block after this span (the planner's link costs). */
  private async measurePings (): Promise<void> {
    const { end } = this.host
    const nLayers = this.model.config.nLayers
    if (end >= nLayers) return
    const next = (await this.directory.servers(this.modelId, nLayers)).filter(s => s.start <= end && end < s.end).slice(0, 5)
    const pings: Record<string, number> = {}
    await Promise.all(next.map(async s => {
      try {
        const ms = await this.node.ping(peerAddress(s), { signal: AbortSignal.timeout(5000) })
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
    const others = await this.directory.servers(this.modelId, nLayers)
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
    for (const t of this.timers) clearTimeout(t)
    this.state = 'offline'
    try {
      await this.node.putRecord(encodeRecord(this.record()), { signal: AbortSignal.timeout(2000) })
    } catch (err) {
      if (!isAbortError(err)) log('could not announce offline: %s', (err as Error).message)
    }
    await this.spanServer.stop()
    if (this.options.node !== undefined) await Promise.all([SPAN_PROTOCOL, WEIGHTS_PROTOCOL].map(async p => { await this.node.unhandle(p) }))
    this.host.close()
    await this.dispose()
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


/**
 * A swarm server: a libp2p peer that loads one span of a model, benchmarks it, serves the span
 * protocol and keeps its signed record and provider records fresh in the DHT. With `blocks: 'auto'`
 * it picks its span from what the swarm announced and periodically considers moving.
 */
import { type Backend, type BackendName, createBackend } from '../kernels/index.ts'
import { type ModelSource, loadWeights, openModel } from '../model/index.ts'
import { NetNode, SpanServer } from '../net/index.ts'
import { isAbortError } from '../util/errors.ts'
import { unref } from '../util/bytes.ts'
import { logger } from '../util/log.ts'
import { chooseStart, rebalance } from './blocks.ts'
import { Directory, peerAddress } from './directory.ts'
import { ServedSpan } from './host.ts'
import { type ServerRecord, type ServerState, encodeRecord, recordRules, topics } from './record.ts'

const log = logger('swarm:server')

export interface ServeOptions {
  /** model file or folder */
  model: string
  /** [start, end), or 'auto' to choose from what the swarm needs */
  blocks: readonly [number, number] | 'auto'
  /** with 'auto': how many blocks to take; default all of them */
  numBlocks?: number
  listen?: readonly string[]
  announce?: readonly string[]
  bootstrap?: readonly string[]
  swarmKey?: Uint8Array
  name?: string
  backend?: BackendName | 'auto'
  threads?: number
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
}

export class SwarmServer {
  private state: ServerState = 'joining'
  private throughput = 0
  private pings: Record<string, number> = {}
  private readonly timers = new Set<NodeJS.Timeout>()
  private moving = false
  private stopped = false

  private constructor (
    readonly node: NetNode,
    private readonly options: ServeOptions,
    private readonly source: ModelSource,
    private readonly backend: Backend,
    readonly modelId: string,
    private host: ServedSpan,
    private readonly spanServer: SpanServer,
    private readonly directory: Directory
  ) {}

  static async start (options: ServeOptions): Promise<SwarmServer> {
    const { signal } = options
    const note = options.onNote ?? (() => {})
    const source = await openModel(options.model, { signal })
    const nLayers = source.config.nLayers
    const backend = await createBackend(options.backend ?? 'auto', { threads: options.threads })
    const node = await NetNode.create({
      listen: options.listen ?? ['/ip4/0.0.0.0/tcp/0'],
      announce: options.announce,
      bootstrap: options.bootstrap,
      swarmKey: options.swarmKey,
      dhtServer: true,
      records: recordRules,
      providerValidityMs: 2 * (options.announcePeriodMs ?? 60_000),
      signal
    })
    try {
      const directory = new Directory(node)
      let span: readonly [number, number]
      let modelId: string | undefined
      if (options.blocks === 'auto') {
        note('hashing the model to find its swarm')
        modelId = (await loadWeights(source, backend, { start: 0, end: 0, hash: true, signal })).modelId!
        const length = Math.min(nLayers, options.numBlocks ?? nLayers)
        const others = await directory.servers(modelId, nLayers, { signal })
        const guess = others.length > 0 ? Math.min(...others.map(o => o.throughput)) : 1
        const start = chooseStart(nLayers, length, guess, others)
        span = [start, start + length]
        note(`chose blocks ${span[0]}:${span[1]} (${others.length} other servers)`)
      } else span = options.blocks
      note(`loading blocks ${span[0]}:${span[1]} of ${source.name}`)
      const host = await ServedSpan.load(source, backend, { start: span[0], end: span[1], modelId, cacheBudgetBytes: options.cacheBudgetBytes, signal })
      const spanServer = new SpanServer(node, host, { maxFrameBytes: options.maxFrameBytes, maxSessionLength: source.config.contextLength })
      const server = new SwarmServer(node, options, source, backend, host.modelId, host, spanServer, directory)
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
      await node.stop()
      backend.dispose()
      throw err
    }
  }

  get span (): readonly [number, number] {
    return [this.host.start, this.host.end]
  }

  get addresses (): string[] {
    return this.node.addresses
  }

  /** The record this server announces now. */
  record (host = this.host): ServerRecord {
    const now = Date.now()
    return {
      v: 1,
      peer: this.node.peerId,
      name: this.options.name ?? '',
      model: this.modelId,
      modelName: this.source.name,
      nLayers: this.source.config.nLayers,
      start: host.start,
      end: host.end,
      state: this.state,
      throughput: this.throughput,
      freeCacheTokens: host.freeCacheTokens,
      version: this.options.version,
      addrs: this.node.addresses.map(a => a.slice(0, a.lastIndexOf('/p2p/'))),
      pings: this.pings,
      issuedAt: now,
      expiresAt: now + 2 * this.announcePeriod
    }
  }

  private get announcePeriod (): number {
    return this.options.announcePeriodMs ?? 60_000
  }

  /** Publishes the record, then the provider records of every block and of the server index. */
  private async announce (host: ServedSpan, options: { signal?: AbortSignal } = {}): Promise<void> {
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
        const t = setTimeout(() => {
          this.timers.delete(t)
          void task().catch(err => { if (!this.stopped) log('periodic task failed: %s', (err as Error).message) }).finally(() => { if (!this.stopped) run() })
        }, ms())
        unref(t)
        this.timers.add(t)
      }
      run()
    }
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
    const nLayers = this.source.config.nLayers
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
    const nLayers = this.source.config.nLayers
    const others = await this.directory.servers(this.modelId, nLayers)
    const self = { start: this.host.start, end: this.host.end, throughput: this.throughput }
    const d = rebalance(nLayers, self, others)
    log('rebalance: weakest block %f now, %f after moving to %d: %s', d.minNow, d.minAfter, d.start, d.move ? 'move' : 'stay')
    if (!d.move) return false
    this.moving = true
    try {
      const length = self.end - self.start
      this.options.onNote?.(`moving to blocks ${d.start}:${d.start + length}`)
      const host = await ServedSpan.load(this.source, this.backend, { start: d.start, end: d.start + length, modelId: this.modelId, cacheBudgetBytes: this.options.cacheBudgetBytes })
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
    await this.node.stop()
    this.host.close()
    this.backend.dispose()
  }
}


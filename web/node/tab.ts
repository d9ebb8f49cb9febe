/**
 * A browser tab as a peer of the swarm: one libp2p node (WebSockets to native nodes, a relay
 * reservation so others can reach it, WebRTC between tabs) shared by
 *   - a server: the same SwarmServer a native node runs, its weights fetched over the swarm into
 *     OPFS and its span computed in a worker, announced with platform "browser"
 *   - a client: a swarm model whose tokenizer, embedding and head come from the swarm too
 */
import type { Backend } from '../../src/kernels/index.ts'
import { type Account, addresses, cached, creditsForClient, creditsForServer } from '../../src/ledger/credits.ts'
import { auditLedger, type ChainReport } from '../../src/ledger/audit.ts'
import { Ledger, type LedgerSummary } from '../../src/ledger/ledger.ts'
import { PROTOCOL } from '../../src/ledger/policy.ts'
import { LedgerService } from '../../src/ledger/service.ts'
import { type Manifest, Model } from '../../src/model/index.ts'
import { BROWSER_LISTEN, browserTransports } from '../../src/net/browser-transports.ts'
import { NetNode, keySigner } from '../../src/net/index.ts'
import {
  type RouteEvent, SwarmClient, type SwarmStatus, SwarmServer, chooseStart, hopRoundTrips, loadSwarmModelById, recordRules, summarize, weights
} from '../../src/swarm/index.ts'
import { peerAddress } from '../../src/swarm/directory.ts'
import { GridError } from '../../src/util/errors.ts'
import { timeoutSignal } from '../../src/util/signal.ts'
import { logger } from '../../src/util/log.ts'
import { type TabAccount, openAccount } from './account.ts'
import { OpfsStore } from './opfs-store.ts'
import type { SpanBackend } from './span-protocol.ts'
import { WorkerSpan } from './worker-span.ts'

const log = logger('web:tab')

export interface TabOptions {
  /** multiaddrs (WebSockets, with /p2p/) of native peers to join through */
  bootstrap: readonly string[]
  version: string
  /** kernel threads for a span this tab serves; default the number of cores */
  threads?: number
  /** the kernels of a span this tab serves; default auto: webgpu on a hardware GPU, else wasm */
  backend?: SpanBackend
  signal?: AbortSignal
}

export interface ServeRequest {
  /** default: the swarm's model with the most servers */
  modelId?: string
  blocks: readonly [number, number] | 'auto'
  numBlocks?: number
  cacheBudgetBytes?: number
  onProgress?: (done: number, total: number) => void
  onNote?: (note: string) => void
  signal?: AbortSignal
}

export class Tab {
  readonly store = new OpfsStore()
  readonly client: SwarmClient
  server: SwarmServer | undefined
  /** the backend the span this tab serves computes on (e.g. webgpu), once loaded */
  spanBackend: string | undefined
  private readonly models = new Map<string, Promise<Model>>()
  private readonly routeListeners = new Set<(e: RouteEvent) => void>()
  private dialTimer: ReturnType<typeof setInterval> | undefined

  /** this tab's account (its ledger kept in this browser) and the service answering for it: one for serving and chatting both */
  readonly account: Account

  private constructor (readonly node: NetNode, private readonly options: TabOptions, private readonly kept: TabAccount, ledger: Ledger) {
    this.client = SwarmClient.attach(node)
    const service = new LedgerService({ ledger, node, peers: cached(async () => addresses(await this.client.directory.allServers())) })
    this.account = { ledger, service }
  }

  static async start (options: TabOptions): Promise<Tab> {
    if (options.bootstrap.length === 0) throw new GridError('INVALID_ARGUMENT', 'a tab needs the WebSockets address of a native peer to join through')
    // the account first (key and ledger, kept in this browser): the node is its peer
    const kept = await openAccount()
    let node: NetNode | undefined
    try {
      node = await NetNode.create({
        listen: BROWSER_LISTEN,
        bootstrap: options.bootstrap,
        transports: browserTransports(),
        records: recordRules,
        key: kept.key,
        signal: options.signal
      })
      const tab = new Tab(node, options, kept, await Ledger.open({ store: kept.store, signer: keySigner(kept.key), grantBits: PROTOCOL.minGrantBits }))
      await tab.account.service.start()
      // others reach a tab only through a relay: wait for the reservation
      for (let waited = 0; !node.addresses.some(a => a.includes('/p2p-circuit')) && waited < RESERVATION_WAIT_MS; waited += 100) {
        await new Promise(resolve => setTimeout(resolve, 100))
      }
      log('tab %s (account slot %s) joined through %o; reachable at %o', node.peerId, kept.slot ?? 'none', options.bootstrap, node.addresses)
      return tab
    } catch (err) {
      await node?.stop()
      await kept.close()
      throw err
    }
  }

  /** This tab's account: balance, earned, spent (µcr), and which of the browser's accounts it is. */
  credits (): LedgerSummary & { slot: number | undefined } {
    return { ...this.account.ledger.summary(), slot: this.kept.slot }
  }

  /** Checks this tab's whole chain and every signature (what `gridllm credits verify` does). */
  async verifyCredits (): Promise<ChainReport> {
    return await auditLedger(this.account.ledger.store)
  }

  get peerId (): string {
    return this.node.peerId
  }

  /** The swarm as this tab sees it, itself included (a directory lists only the others). */
  async status (options: { signal?: AbortSignal } = {}): Promise<SwarmStatus> {
    const others = await this.client.directory.allServers(options)
    return summarize(this.server === undefined ? others : [...others, this.server.record()])
  }

  /** The model id to use when none is named: the one with the most servers. */
  async defaultModel (options: { signal?: AbortSignal } = {}): Promise<string> {
    for (let attempt = 0; attempt < 20; attempt++) {
      const { models } = await this.status(options)
      const best = [...models].sort((a, b) => b.servers.length - a.servers.length)[0]
      if (best !== undefined) return best.model
      await new Promise(resolve => setTimeout(resolve, 500))
    }
    throw new GridError('NO_ROUTE', 'no model is served in this swarm yet')
  }

  /** The span `--blocks auto` would take now, and the bytes its weights and cache need. */
  async plan (modelId: string, numBlocks: number, options: { signal?: AbortSignal } = {}): Promise<{ start: number, end: number, weightBytes: number, cacheBytes: number, manifest: Manifest }> {
    const fetcher = new weights.WeightsFetcher(this.node, this.store)
    const servers = (await this.client.directory.allServers(options)).filter(s => s.model === modelId)
    const manifest = await fetcher.manifest(modelId, weights.recordHolders(servers, modelId), options)
    const c = manifest.config
    const length = Math.min(numBlocks, c.nLayers)
    const guess = servers.length > 0 ? Math.min(...servers.map(s => s.throughput)) : 1
    const start = chooseStart(c.nLayers, length, guess, servers)
    const weightBytes = manifest.bytesOf(manifest.itemsFor(start, start + length))
    return { start, end: start + length, weightBytes, cacheBytes: CACHE_BUDGET, manifest }
  }

  /** Serves a span: fetches its weights into OPFS, loads them in a worker, announces it. */
  async serve (req: ServeRequest): Promise<SwarmServer> {
    if (this.server !== undefined) throw new GridError('INVALID_ARGUMENT', `this tab already serves blocks ${this.server.span.join(':')}`)
    const modelId = req.modelId ?? await this.defaultModel(req)
    let name = modelId.slice(0, 12)
    const threads = this.options.threads ?? Math.max(1, navigator.hardwareConcurrency ?? 1)
    this.server = await SwarmServer.start({
      node: this.node,
      modelId,
      store: this.store,
      blocks: req.blocks,
      numBlocks: req.numBlocks,
      platform: 'browser',
      credits: creditsForServer({ account: this.account }),
      loadSpan: WorkerSpan.loader({ threads, name: () => name, backend: this.options.backend ?? 'auto', onLoad: span => { this.spanBackend = span.backend } }),
      cacheBudgetBytes: req.cacheBudgetBytes ?? CACHE_BUDGET,
      version: this.options.version,
      signal: req.signal,
      onNote: note => { log('%s', note); req.onNote?.(note) },
      onProgress: req.onProgress
    }).catch(err => { this.server = undefined; throw err })
    name = this.server.model.name
    this.keepPredecessorsClose()
    return this.server
  }

  /**
   * Dials the servers whose output comes to this tab (those serving the block before its span), so
   * they push over this direct connection instead of through a relay: a tab cannot be dialed
   * directly, only reached over connections it opened (or WebRTC, for tabs).
   */
  private keepPredecessorsClose (): void {
    const dial = async (): Promise<void> => {
      const s = this.server
      if (s === undefined) return
      const [start] = s.span
      const all = await this.client.directory.servers(s.modelId, s.model.config.nLayers)
      await Promise.all(all.filter(o => o.start < start && start <= o.end).map(async o => {
        await this.node.ping(peerAddress(o), { signal: timeoutSignal(5000, 'a ping') }).catch(err => { log('cannot reach %s: %s', o.peer.slice(-8), (err as Error).message) })
      }))
    }
    void dial()
    this.dialTimer = setInterval(() => { void dial().catch(() => {}) }, 15_000)
  }

  async stopServing (): Promise<void> {
    clearInterval(this.dialTimer)
    const s = this.server
    this.server = undefined
    await s?.stop()
  }

  /**
   * The whole model in this tab, every block on `backend`: its weights fetched from peers (checked
   * piece by piece, cached in OPFS). What ?run=golden runs; the caller closes it and the backend.
   */
  async localModel (modelId: string, backend: Backend, options: { signal?: AbortSignal, onProgress?: (done: number, total: number) => void } = {}): Promise<Model> {
    const servers = (await this.client.directory.allServers(options)).filter(s => s.model === modelId)
    const holders = weights.recordHolders(servers, modelId)
    const fetcher = new weights.WeightsFetcher(this.node, this.store)
    const manifest = await fetcher.manifest(modelId, holders, options)
    await fetcher.fetch(manifest, manifest.itemsFor(0, manifest.config.nLayers, { ends: true, tokenizer: true }), holders, options)
    return await Model.fromSource(await weights.storeSource(this.store, manifest, servers[0]?.modelName ?? modelId.slice(0, 12)), { backend, signal: options.signal })
  }

  /** The chat model of a model id (its ends fetched once, then cached in OPFS). */
  async model (modelId: string, options: { onProgress?: (done: number, total: number) => void } = {}): Promise<Model> {
    let model = this.models.get(modelId)
    if (model === undefined) {
      model = loadSwarmModelById(this.client, modelId, {
        store: this.store,
        // the page's thread may not block: one thread, no pool (the span worker has the threads)
        backend: 'wasm',
        threads: 1,
        payer: creditsForClient({ account: this.account }),
        onProgress: options.onProgress,
        onRoute: e => { for (const l of this.routeListeners) l(e) }
      })
      model.catch(() => this.models.delete(modelId))
      this.models.set(modelId, model)
    }
    return await model
  }

  onRoute (listener: (e: RouteEvent) => void): () => void {
    this.routeListeners.add(listener)
    return () => this.routeListeners.delete(listener)
  }

  /** A hop's round trips (ms per single-token step over one block) to a server, as a chain would see them. */
  async hopRoundTrips (peer: string, steps = 200): Promise<number[]> {
    const s = (await this.client.directory.allServers()).find(x => x.peer === peer)
    if (s === undefined) throw new GridError('NO_ROUTE', `no server ${peer} in the swarm`)
    const manifest = await new weights.WeightsFetcher(this.node, this.store).manifest(s.model, weights.recordHolders([s], s.model))
    return await hopRoundTrips(this.node, s, manifest.config.dim, { steps })
  }

  /** Round trip to a peer (ms), over the connection libp2p picks. */
  async ping (peer: { peer: string, addrs: readonly string[] }): Promise<number> {
    return await this.node.ping({ id: peer.peer, addrs: peer.addrs }, { signal: timeoutSignal(5000, 'a ping') })
  }

  async stop (): Promise<void> {
    await this.stopServing()
    for (const m of this.models.values()) await (await m.catch(() => undefined))?.close()
    await this.client.stop()
    await this.account.service.idle()
    await this.node.stop()
    await this.kept.close()
  }
}

const RESERVATION_WAIT_MS = 15_000

/** KV-cache memory a tab gives its sessions: 256 MiB */
export const CACHE_BUDGET = 256 << 20

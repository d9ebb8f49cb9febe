/**
 * The page: joins the swarm as a tab, shows it live, chats through it, and donates this tab's
 * compute on request. Query parameters make it scriptable:
 *   ?serve=<start:end|auto>   serve that span without a click (&model=<id>, &threads=<n>,
 *                             &backend=auto|wasm|webgpu: the kernels, default webgpu on a GPU, else wasm)
 *   &bootstrap=<multiaddr>    the peers to join through (repeatable; default: the page server's)
 *   ?prompt=<text>&n=<tokens>&temperature=0   one generation into #output, data-done="1" at the end
 *   ?run=golden&backend=<auto|wasm|webgpu>   the model run whole in this tab, greedy from BOS
 *                             (&n=<tokens>, default 200), into #output: a check of this browser's kernels
 */
import type { RouteEvent, ServerInfo, SwarmStatus } from '../../src/swarm/index.ts'
import type { SpanBackend } from '../node/span-protocol.ts'
import { Tab } from '../node/tab.ts'
import { runCompletion, setupChat } from './chat.ts'
import { renderCredits, renderDashboard, renderRoute } from './dashboard.ts'
import { runGolden } from './golden.ts'
import { byId, megabytes } from './dom.ts'

interface PageConfig {
  readonly bootstrap: readonly string[]
  readonly version: string
}

const params = new URLSearchParams(location.search)
const REFRESH_MS = 3000

function showError (err: unknown): void {
  const el = byId('error')
  el.hidden = false
  const code = (err as { code?: string }).code
  el.textContent = `${(err as Error)?.message ?? String(err)}${code !== undefined ? ` [${code}]` : ''}`
}

function isSpanBackend (value: string): value is SpanBackend {
  return value === 'auto' || value === 'wasm' || value === 'webgpu'
}

function parseSpan (value: string | null): readonly [number, number] | 'auto' | undefined {
  if (value === null) return undefined
  if (value === 'auto' || value === '') return 'auto'
  const m = /^(\d+):(\d+)$/.exec(value)
  if (m === null || Number(m[1]) >= Number(m[2])) throw new Error(`?serve= takes start:end or auto, got "${value}"`)
  return [Number(m[1]), Number(m[2])]
}

async function boot (): Promise<void> {
  const config = await (await fetch('config.json')).json() as PageConfig
  byId('version').textContent = config.version
  if (!crossOriginIsolated) throw new Error('this page needs cross-origin isolation (COOP/COEP headers) for the kernels\' shared memory')
  const bootstrap = params.getAll('bootstrap').flatMap(b => b.split(',')).filter(b => b !== '')
  const threads = params.has('threads') ? Number(params.get('threads')) : undefined
  const backend = params.get('backend') ?? 'auto'
  if (!isSpanBackend(backend)) throw new Error(`?backend= takes auto, wasm or webgpu, got "${backend}"`)
  const tab = await Tab.start({ bootstrap: bootstrap.length > 0 ? bootstrap : config.bootstrap, version: config.version, threads, backend })
  ;(globalThis as Record<string, unknown>).gridllm = tab // for tests, benchmarks and the curious
  addEventListener('pagehide', () => { void tab.stop() })
  byId('peer-id').textContent = tab.peerId
  const modelParam = params.get('model') ?? undefined

  let status: SwarmStatus = { models: [] }
  let route: RouteEvent | undefined
  const rtts = new Map<string, number>()
  const servers = (): ServerInfo[] => status.models.flatMap(m => [...m.servers])
  const render = (): void => {
    renderDashboard({ status, rtts, route, self: tab.peerId })
    renderCredits(tab.credits())
  }
  tab.onRoute(e => { route = e; renderRoute(e, servers()); render() })

  const refresh = async (): Promise<void> => {
    status = await tab.status()
    const all = servers()
    byId('net-status').textContent = `Connected: ${tab.node.connectedPeers.length} peers, ${all.length} servers of ${status.models.length} model${status.models.length === 1 ? '' : 's'}`
    render()
    await Promise.all(all.filter(s => s.peer !== tab.peerId).slice(0, 16).map(async s => {
      try { rtts.set(s.peer, await tab.ping(s)) } catch { rtts.delete(s.peer) }
    }))
    render()
  }
  const loop = (): void => { void refresh().catch(showError).finally(() => setTimeout(loop, REFRESH_MS)) }
  loop()

  setupChat(tab, { modelId: modelParam, onError: showError })
  setupDonate(tab, modelParam, parseSpan(params.get('serve')))

  if (params.get('run') === 'golden') {
    void runGolden(tab, { modelId: modelParam, backend, tokens: params.has('n') ? Number(params.get('n')) : 200 }).catch(err => {
      byId('output').dataset.done = 'error'
      showError(err)
    })
  } else if (params.has('run')) {
    throw new Error(`?run= takes golden, got "${params.get('run')}"`)
  }

  const prompt = params.get('prompt')
  if (prompt !== null) {
    const n = params.has('n') ? Number(params.get('n')) : 64
    const temperature = params.has('temperature') ? Number(params.get('temperature')) : 0
    void runCompletion(tab, { prompt, maxTokens: n, temperature, modelId: modelParam }).catch(err => {
      byId('output').dataset.done = 'error'
      showError(err)
    })
  }
}

/** The "Donate this tab" control: the span it would take and what that needs; ?serve= presses it. */
function setupDonate (tab: Tab, modelId: string | undefined, auto: readonly [number, number] | 'auto' | undefined): void {
  const button = byId<HTMLButtonElement>('donate-button')
  const plan = byId('donate-plan')
  const bar = byId<HTMLProgressElement>('donate-progress')
  const state = byId('donate-status')
  const numBlocks = Number(params.get('blocks') ?? 2)
  let chosen: { modelId: string, start: number, end: number } | undefined

  const describe = async (): Promise<void> => {
    if (tab.server !== undefined) return
    const id = modelId ?? await tab.defaultModel()
    const p = await tab.plan(id, numBlocks)
    chosen = { modelId: id, start: p.start, end: p.end }
    plan.textContent = `This tab would serve blocks ${p.start}:${p.end} of ${p.manifest.config.nLayers}: ${megabytes(p.weightBytes)} of weights fetched from peers (cached in this browser) and up to ${megabytes(p.cacheBytes)} of KV cache.`
    button.disabled = false
  }
  const serve = async (blocks: readonly [number, number] | 'auto'): Promise<void> => {
    button.disabled = true
    bar.hidden = false
    state.textContent = 'Fetching the span\'s weights from the swarm…'
    try {
      const server = await tab.serve({
        modelId: modelId ?? chosen?.modelId,
        blocks,
        numBlocks,
        onProgress: (done, total) => { bar.max = total; bar.value = done },
        onNote: note => { state.textContent = note }
      })
      const [a, b] = server.span
      const m = server.model.manifest
      plan.textContent = `This tab serves blocks ${a}:${b} of ${m.config.nLayers}: ${megabytes(m.bytesOf(m.itemsFor(a, b)))} of weights, fetched from peers and checked piece by piece (cached in this browser).`
      state.textContent = `Serving blocks ${a}:${b} of ${server.model.name} on ${tab.spanBackend ?? '?'}.`
      document.body.dataset.serving = `${a}:${b}`
      document.body.dataset.backend = tab.spanBackend ?? ''
      button.textContent = 'Stop donating'
      button.classList.add('secondary')
      button.disabled = false
    } catch (err) {
      state.textContent = ''
      button.disabled = false
      showError(err)
    } finally {
      bar.hidden = true
    }
  }
  button.addEventListener('click', () => {
    if (tab.server !== undefined) {
      button.disabled = true
      void tab.stopServing().finally(() => {
        delete document.body.dataset.serving
        delete document.body.dataset.backend
        state.textContent = 'Stopped serving.'
        button.textContent = 'Donate this tab'
        button.classList.remove('secondary')
        void describe().catch(showError)
      })
      return
    }
    void serve(chosen === undefined ? 'auto' : [chosen.start, chosen.end])
  })
  if (auto !== undefined) void serve(auto)
  else void describe().catch(() => { plan.textContent = 'No model to serve yet: start a native server first.' })
}

boot().catch(showError)

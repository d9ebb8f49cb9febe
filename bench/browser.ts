/**
 * Browser nodes on loopback, in real Chromium (/usr/bin/chromium), one JSON line each:
 *   browser-join    opening the page with ?serve=0:10 of a 135M-shaped Q8_0 model (30 blocks) to
 *                   serving: the span's weights fetched over libp2p from a native server, stored
 *                   in OPFS, loaded in the span worker, benchmarked, announced
 *   browser-decode  single-token decode through that 10-block span in the tab's worker against the
 *                   same span on the same threads in Node (ServedSpan, as a native server runs it),
 *                   interleaved rounds; target ratio >= 0.8
 *   browser-hop     a hop's round trip (one block of stories260K, a single-token step and its
 *                   result) tab -> native and tab -> tab, against native -> native; target < 2 ms
 *
 * Usage: node --import ./bin/polyfill.mjs --import tsx bench/browser.ts [--threads 2] [--rounds 3]
 */
import { existsSync, mkdirSync } from 'node:fs'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import type { Browser } from 'playwright-core'
import { WebSocketServer } from 'ws'
import { createBackend } from '../src/kernels/index.ts'
import { modelManifest, openModel } from '../src/model/index.ts'
import { SHAPE_135M, writeSyntheticGguf } from '../src/model/synthetic.ts'
import { SwarmClient, hopRoundTrips } from '../src/swarm/index.ts'
import { ServedSpan } from '../src/swarm/host.ts'
import { type ServerProcess, ROOT, STORIES, startServer, stopServers } from '../test/swarm/harness.ts'
import { type Tab, type WebProcess, launch, openTab, skipBrowser, startWeb, waitServing } from '../test/web/harness.ts'
import { median } from './measure.ts'

declare const gridllm: any

const { values: args } = parseArgs({ options: { threads: { type: 'string' }, rounds: { type: 'string' } } })
const threads = Number(args.threads ?? 2)
const rounds = Number(args.rounds ?? 3)
const skip = skipBrowser()
if (skip !== false) { console.error(`bench/browser.ts: ${skip}`); process.exit(1) }

const cache = join(ROOT, 'bench', '.cache')
mkdirSync(cache, { recursive: true })
const path = join(cache, 'synthetic-135m-q8_0.gguf')
if (!existsSync(path)) {
  process.stderr.write('writing a 135M-shaped Q8_0 model into bench/.cache\n')
  writeSyntheticGguf(path, SHAPE_135M, { dtype: 'q8_0', seed: 7 })
}
const p90 = (xs: readonly number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length * 0.9)]!
const round3 = (x: number): number => +x.toFixed(3)

const servers: ServerProcess[] = []
let web: WebProcess | undefined
let browser: Browser | undefined
try {
  // native holders: the 135M model's first 10 blocks, and stories260K for the hops
  servers.push(await startServer(path, ['--blocks', '0:10', '--threads', String(threads)], { timeoutMs: 180_000 }))
  servers.push(await startServer(STORIES, ['--blocks', '0:5', '--threads', '1'], { bootstrap: [servers[0]!] }))
  web = await startWeb(servers[0]!)
  browser = await launch()
  const source = await openModel(path)
  const manifest = await modelManifest(source)
  const spanBytes = manifest.bytesOf(manifest.itemsFor(0, 10))

  // browser-join: a fresh profile (empty OPFS) opens the page and serves 0:10
  const t0 = performance.now()
  const big: Tab = await openTab(browser, `${web.url}/?serve=0:10&model=${manifest.id}&threads=${threads}`)
  await waitServing(big, 300_000)
  const joinMs = performance.now() - t0
  console.log(JSON.stringify({ bench: 'browser-join', model: 'synthetic-135M', dtype: 'q8_0', blocks: 10, weight_bytes: spanBytes, ms_to_serving: Math.round(joinMs), threads }))

  // browser-decode: the tab's span worker vs ServedSpan in Node, same span, same threads, interleaved
  const backend = await createBackend('wasm', { threads })
  const node = await ServedSpan.load(source, backend, { start: 0, end: 10, modelId: manifest.id })
  const tab: number[] = []
  const native: number[] = []
  await node.benchmark({ seconds: 1 })
  await big.page.evaluate(async () => await gridllm.server.benchmark(1))
  for (let r = 0; r < rounds; r++) {
    native.push(await node.benchmark({ seconds: 2 }))
    tab.push(await big.page.evaluate(async () => await gridllm.server.benchmark(2)) as number)
    process.stderr.write(`round ${r + 1}: node ${native[r]!.toFixed(2)} tok/s, tab ${tab[r]!.toFixed(2)} tok/s\n`)
  }
  node.close()
  backend.dispose()
  console.log(JSON.stringify({
    bench: 'browser-decode', model: 'synthetic-135M', dtype: 'q8_0', blocks: 10, threads, rounds,
    tab_tok_s: round3(median(tab)), node_tok_s: round3(median(native)), ratio: round3(median(tab) / median(native)), target: 0.8
  }))

  // browser-hop: a second tab serves stories260K; the first measures hops to it and to the native server
  const small = await openTab(browser, `${web.url}/?serve=0:5&model=${(await modelManifest(await openModel(STORIES))).id}&threads=1`)
  await waitServing(small)
  const smallPeer = await small.peer()
  const storiesServer = servers[1]!.peer
  const toNative = await big.page.evaluate(async (peer: string) => await gridllm.hopRoundTrips(peer, 300), storiesServer) as number[]
  const toTab = await big.page.evaluate(async (peer: string) => await gridllm.hopRoundTrips(peer, 300), smallPeer) as number[]
  // the floor under any tab <-> native hop: a bare WebSocket echo from the page to Node, same bytes
  const echo = new WebSocketServer({ host: '127.0.0.1', port: 0 })
  echo.on('connection', ws => ws.on('message', m => ws.send(m)))
  await new Promise(resolve => echo.once('listening', resolve))
  const wsEcho = await big.page.evaluate(async (port: number) => {
    const ws = new WebSocket(`ws://127.0.0.1:${port}`)
    ws.binaryType = 'arraybuffer'
    await new Promise(resolve => { ws.onopen = resolve })
    const out: number[] = []
    const msg = new Uint8Array(300) // about a stories260K hidden-state frame and its header
    for (let i = 0; i < 320; i++) {
      const got = new Promise(resolve => { ws.onmessage = resolve })
      const t0 = performance.now()
      ws.send(msg)
      await got
      if (i >= 20) out.push(performance.now() - t0)
    }
    ws.close()
    return out
  }, (echo.address() as { port: number }).port) as number[]
  echo.close()
  const client = await SwarmClient.create({ bootstrap: [servers[0]!.addr] })
  const s = (await client.directory.allServers()).find(x => x.peer === storiesServer)!
  const nativeHop = await hopRoundTrips(client.node, s, (await openModel(STORIES)).config.dim, { steps: 300 })
  await client.stop()
  for (const [link, xs] of [['tab-native', toNative], ['tab-tab', toTab]] as const) {
    console.log(JSON.stringify({
      bench: 'browser-hop', link, model: 'stories260K', blocks: 1, steps: xs.length,
      median_ms: round3(median(xs)), p90_ms: round3(p90(xs)), native_native_median_ms: round3(median(nativeHop)),
      ratio: round3(median(xs) / median(nativeHop)), target_ms: 2,
      ...(link === 'tab-native' ? { bare_websocket_echo_median_ms: round3(median(wsEcho)) } : {})
    }))
  }
  const errors = [...big.errors, ...small.errors]
  if (errors.length > 0) process.stderr.write(`console errors in the tabs: ${errors.join(' | ')}\n`)
} finally {
  await browser?.close()
  await web?.stop()
  await stopServers(servers)
}

/**
 * A browser tab serving blocks 2:4 of stories260K between native servers of 0:2 and 4:5, in real
 * Chromium: it fetched its weights over libp2p (not HTTP) and caught the peer that corrupts
 * pieces; a native client's greedy output through it is the reference; status and the dashboard
 * show it (screenshot); closing the tab mid-generation fails over to a native replica.
 */
import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { mkdirSync } from 'node:fs'
import { join } from 'node:path'
import { promisify } from 'node:util'
import type { Browser } from 'playwright-core'
import { LEDGER_FILE, SqliteStore, clientCredits } from '../../src/ledger/index.ts'
import { type RouteEvent, loadSwarmModel } from '../../src/swarm/index.ts'
import { expectedIds } from '../fixtures/stories.ts'
import { ROOT, STORIES, type ServerProcess, greedyIds, startServer, stopServers, tempDir } from '../swarm/harness.ts'
import { type Tab, type WebProcess, launch, openTab, skipBrowser, startWeb, waitServing } from './harness.ts'
import { type Hostile, startHostile } from './hostile.ts'

declare const document: any
declare const gridllm: any

const PAGE_FILES = new Set(['/', '/app.js', '/style.css', '/config.json', '/span-worker.js', '/kernel-worker.js', '/build/kernels.wasm'])

describe('a tab serving a span between native servers', { skip: skipBrowser() }, () => {
  const servers: ServerProcess[] = []
  const shots = tempDir()
  let hostile: Hostile
  let web: WebProcess
  let browser: Browser
  let tab: Tab
  let tabPeer: string

  before(async () => {
    servers.push(await startServer(STORIES, ['--blocks', '0:2']))
    servers.push(await startServer(STORIES, ['--blocks', '4:5'], { bootstrap: [servers[0]!] }))
    hostile = await startHostile(STORIES, servers[0]!.addr)
    web = await startWeb(servers[0]!)
    browser = await launch()
    tab = await openTab(browser, `${web.url}/?serve=2:4`)
    assert.equal(await waitServing(tab), '2:4')
    tabPeer = await tab.peer()
  })

  after(async () => {
    await browser?.close()
    await web?.stop()
    await hostile?.stop()
    await stopServers(servers)
    shots.remove()
  })

  test('the tab fetched its span\'s weights from native peers over libp2p and skipped the peer that corrupts them', async () => {
    const fetches = await tab.page.evaluate(() => gridllm.server.model.fetches) as Array<{ total: number, reused: number, fromPeers: Record<string, number>, liars: string[] }>
    assert.equal(fetches.length, 1)
    const [report] = fetches
    assert.deepEqual(report!.liars, [hostile.peer], 'the corrupting peer was caught')
    assert.ok(hostile.asked() >= 1, 'it was asked')
    const natives = servers.map(s => s.peer)
    assert.ok(Object.keys(report!.fromPeers).length >= 1 && Object.keys(report!.fromPeers).every(p => natives.includes(p)), JSON.stringify(report!.fromPeers))
    assert.equal(Object.values(report!.fromPeers).reduce((a, b) => a + b, 0), report!.total)
    const paths = tab.requests.map(u => new URL(u)).filter(u => u.protocol.startsWith('http')).map(u => u.pathname)
    assert.deepEqual(paths.filter(p => !PAGE_FILES.has(p)), [], 'no weights over HTTP: the page fetched only itself')
  })

  test('a native client\'s greedy output through 0:2 → tab → 4:5 is the reference, 200 tokens, and it paid the tab', async () => {
    const routes: RouteEvent[] = []
    const account = tempDir()
    const model = await loadSwarmModel(STORIES, { bootstrap: [servers[0]!.addr], onRoute: e => routes.push(e), payer: clientCredits({ dataDir: account.path, grantBits: 16 }) })
    try {
      assert.deepEqual(await greedyIds(model, '', 200), expectedIds())
    } finally {
      await model.close() // settles what is left
    }
    const books = new SqliteStore(join(account.path, LEDGER_FILE))
    const paidTab = books.recent(1000).filter(r => r.role === 'payer' && r.counterparty === tabPeer).reduce((n, r) => n + r.amount, 0)
    books.close()
    account.remove()
    assert.deepEqual(routes.map(r => r.hops.map(h => [h.start, h.end])), [[[0, 2], [2, 4], [4, 5]]])
    assert.equal(routes[0]!.hops[1]!.peer, tabPeer)
    // the tab charges like a native server, into its own ledger (IndexedDB)
    assert.ok(paidTab > 0, 'the client paid the tab')
    const earned = await tab.page.evaluate(() => gridllm.credits().earned) as number
    assert.equal(earned, paidTab, 'the tab earned what the client paid it')
    const report = await tab.page.evaluate(async () => await gridllm.verifyCredits())
    assert.equal(report.ok, true, JSON.stringify(report.problems))
  })

  test('status --json lists the tab with platform browser', async () => {
    const { stdout } = await promisify(execFile)(process.execPath, [join(ROOT, 'bin/gridllm.mjs'), 'status', '--json', '--bootstrap', servers[0]!.addr], { cwd: ROOT })
    const servers_ = (JSON.parse(stdout) as { models: Array<{ servers: Array<{ peer: string, platform: string, start: number, end: number }> }> }).models[0]!.servers
    const mine = servers_.find(s => s.peer === tabPeer)
    assert.deepEqual(mine && [mine.platform, mine.start, mine.end], ['browser', 2, 4])
    assert.ok(servers_.filter(s => s.peer !== tabPeer).every(s => s.platform === 'node'))
  })

  test('the dashboard\'s coverage map shows every server, at desktop and phone width, with no console errors', async () => {
    const expected = [...servers.map(s => s.peer), hostile.peer, tabPeer].sort()
    const rows = async (): Promise<string[]> => await tab.page.evaluate(() => [...document.querySelectorAll('table.coverage tbody tr')].map((r: any) => r.dataset.peer).sort())
    await tab.page.waitForFunction((n: number) => document.querySelectorAll('table.coverage tbody tr').length === n, expected.length, { timeout: 30_000 })
    assert.deepEqual(await rows(), expected)
    const spans = await tab.page.evaluate(() => Object.fromEntries([...document.querySelectorAll('table.coverage tbody tr')].map((r: any) => [r.dataset.peer, [r.dataset.platform, r.dataset.span, r.querySelectorAll('td.block.on').length]])))
    assert.deepEqual(spans[tabPeer], ['browser', '2:4', 2])
    assert.deepEqual(spans[servers[0]!.peer], ['node', '0:2', 2])
    // earnings as each server reports them: native servers and tabs charge by default
    const earned = await tab.page.evaluate(() => Object.fromEntries([...document.querySelectorAll('table.coverage tbody tr')].map((r: any) => [r.dataset.peer, r.querySelector('td.earned')?.dataset.earned ?? null])))
    for (const s of servers) assert.match(String(earned[s.peer]), /^\d+$/, `server ${s.peer} reports what it earned`)
    assert.match(String(earned[tabPeer]), /^\d+$/, 'the tab reports what it earned')
    assert.equal(await tab.page.locator('table.coverage tfoot td.block.gap').count(), 0, 'every block covered')
    mkdirSync(shots.path, { recursive: true })
    await tab.page.screenshot({ path: join(shots.path, 'dashboard.png'), fullPage: true })
    if (process.env.GRIDLLM_SCREENSHOT !== undefined) await tab.page.screenshot({ path: process.env.GRIDLLM_SCREENSHOT, fullPage: true })
    // accessible names for every control
    assert.equal(await tab.page.getByLabel('Message').count(), 1)
    assert.equal(await tab.page.getByRole('button', { name: 'Send' }).count(), 1)
    assert.equal(await tab.page.getByRole('button', { name: 'Stop donating' }).count(), 1)
    assert.equal(await tab.page.getByRole('table', { name: /blocks of/ }).count(), 1)
    // phone width: nothing wider than the screen but the map, which scrolls in its own box
    await tab.page.setViewportSize({ width: 390, height: 844 })
    const overflow = await tab.page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth)
    assert.ok(overflow <= 0, `the page is ${overflow} px wider than a phone`)
    await tab.page.screenshot({ path: join(shots.path, 'dashboard-phone.png'), fullPage: true })
    await tab.page.setViewportSize({ width: 1280, height: 900 })
    assert.deepEqual(tab.errors, [])
  })

  test('closing the tab mid-generation: a native replica of 2:4 takes over and the output is still the reference', async () => {
    const routes: RouteEvent[] = []
    const model = await loadSwarmModel(STORIES, { bootstrap: [servers[0]!.addr], banMs: 600_000, onRoute: e => routes.push(e) })
    try {
      const ids: number[] = []
      for await (const t of model.generate('', { temperature: 0, maxTokens: 200 })) {
        ids.push(t.id)
        if (ids.length === 60) {
          assert.equal(routes[0]!.hops[1]!.peer, tabPeer, 'the route goes through the tab')
          servers.push(await startServer(STORIES, ['--blocks', '2:4'], { bootstrap: [servers[0]!], timeoutMs: 120_000 })) // generation waits meanwhile
          await tab.context.close() // the tab goes away like a closed window
        }
      }
      assert.deepEqual(ids, expectedIds())
    } finally {
      await model.close()
    }
    const failover = routes.find(r => r.reason === 'failover')
    assert.ok(failover !== undefined, 'the session failed over')
    assert.equal(failover.hops.find(h => h.start === 2)?.peer, servers[2]!.peer)
  })
})

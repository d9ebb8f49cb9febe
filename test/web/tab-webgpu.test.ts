/**
 * A tab serving blocks 2:4 of stories260K on the webgpu backend (`?backend=webgpu`; Chromium's
 * software adapter, SwiftShader, stands in for a GPU) between native servers of 0:2 and 4:5: a
 * native client's greedy output through it is the reference. And the page's ?run=golden, the
 * whole model in a tab, gives llama2.c's text on webgpu and on wasm.
 */
import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import type { Browser } from 'playwright-core'
import { type RouteEvent, loadSwarmModel } from '../../src/swarm/index.ts'
import { SOFTWARE_WEBGPU } from '../fixtures/browser.ts'
import { expectedIds, expectedText } from '../fixtures/stories.ts'
import { STORIES, type ServerProcess, greedyIds, startServer, stopServers } from '../swarm/harness.ts'
import { type Tab, type WebProcess, launch, openTab, skipBrowser, startWeb, waitServing } from './harness.ts'

declare const document: any

describe('a tab serving a span on webgpu', { skip: skipBrowser() }, () => {
  const servers: ServerProcess[] = []
  let web: WebProcess
  let browser: Browser
  let tab: Tab

  before(async () => {
    servers.push(await startServer(STORIES, ['--blocks', '0:2']))
    servers.push(await startServer(STORIES, ['--blocks', '4:5'], { bootstrap: [servers[0]!] }))
    web = await startWeb(servers[0]!)
    browser = await launch(SOFTWARE_WEBGPU)
    tab = await openTab(browser, `${web.url}/?serve=2:4&backend=webgpu`)
    assert.equal(await waitServing(tab), '2:4')
  })

  after(async () => {
    await browser?.close()
    await web?.stop()
    await stopServers(servers)
  })

  test('0:2 → tab on webgpu → 4:5 gives the reference, 200 tokens', async () => {
    assert.equal(await tab.page.evaluate(() => document.body.dataset.backend), 'webgpu')
    const tabPeer = await tab.peer()
    const routes: RouteEvent[] = []
    const model = await loadSwarmModel(STORIES, { bootstrap: [servers[0]!.addr], onRoute: e => routes.push(e) })
    try {
      assert.deepEqual(await greedyIds(model, '', 200), expectedIds())
    } finally {
      await model.close()
    }
    assert.deepEqual(routes[0]!.hops.map(h => [h.start, h.end]), [[0, 2], [2, 4], [4, 5]])
    assert.equal(routes[0]!.hops[1]!.peer, tabPeer)
    assert.deepEqual(tab.errors, [])
  })

  test('?backend= refuses what it does not know', async () => {
    const bad = await openTab(browser, `${web.url}/?backend=cuda`)
    await bad.page.waitForFunction(() => !document.getElementById('error').hidden, null, { timeout: 30_000 })
    assert.match(await bad.page.evaluate(() => document.getElementById('error').textContent), /\?backend= takes auto, wasm or webgpu, got "cuda"/)
    await bad.context.close()
  })

  test('?run=golden: the whole model in a tab gives llama2.c\'s 200 tokens, on webgpu and on wasm', async () => {
    servers.push(await startServer(STORIES, ['--blocks', '2:4'], { bootstrap: [servers[0]!] })) // every block held by a native peer
    for (const [i, b] of ['webgpu', 'wasm'].entries()) {
      const t = await openTab(browser, `${web.url}/?run=golden&backend=${b}`)
      await t.page.waitForFunction(() => document.getElementById('output').dataset.done !== '0' && document.getElementById('output').dataset.done !== undefined, null, { timeout: 120_000 })
      const [done, backend, text, error] = await t.page.evaluate(() => [document.getElementById('output').dataset.done, document.getElementById('output').dataset.backend, document.getElementById('output').textContent, document.getElementById('error').textContent])
      assert.equal(done, '1', error)
      assert.equal(backend, ['webgpu', 'wasm'][i])
      assert.equal(text, expectedText())
      assert.deepEqual(t.errors, [])
      await t.context.close()
    }
  })
})

/**
 * Two tabs (two browser profiles) serving adjacent spans, 2:3 and 3:4, between native servers of
 * 0:2 and 4:5: the first pushes its output straight to the second over WebRTC (the relay only
 * carried the signalling), and a native client's greedy output is the reference.
 */
import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import type { Browser } from 'playwright-core'
import { SPAN_PROTOCOL } from '../../src/net/index.ts'
import { type RouteEvent, loadSwarmModel } from '../../src/swarm/index.ts'
import { expectedIds } from '../fixtures/stories.ts'
import { STORIES, type ServerProcess, startServer, stopServers } from '../swarm/harness.ts'
import { type Tab, type WebProcess, launch, openTab, skipBrowser, startWeb, waitServing } from './harness.ts'

declare const gridllm: any

describe('two tabs serving adjacent spans', { skip: skipBrowser() }, () => {
  const servers: ServerProcess[] = []
  let web: WebProcess
  let browser: Browser
  let a: Tab
  let b: Tab

  before(async () => {
    servers.push(await startServer(STORIES, ['--blocks', '0:2']))
    servers.push(await startServer(STORIES, ['--blocks', '4:5'], { bootstrap: [servers[0]!] }))
    web = await startWeb(servers[0]!)
    browser = await launch()
    ;[a, b] = await Promise.all([openTab(browser, `${web.url}/?serve=2:3`), openTab(browser, `${web.url}/?serve=3:4`)])
    assert.deepEqual(await Promise.all([waitServing(a), waitServing(b)]), ['2:3', '3:4'])
  })

  after(async () => {
    await browser?.close()
    await web?.stop()
    await stopServers(servers)
  })

  test('the tabs talk over a direct WebRTC connection, and the output is the reference', async () => {
    const [peerA, peerB] = await Promise.all([a.peer(), b.peer()])
    const routes: RouteEvent[] = []
    const model = await loadSwarmModel(STORIES, { bootstrap: [servers[0]!.addr], onRoute: e => routes.push(e) })
    let links: Array<{ addr: string, limited: boolean, protocols: string[] }> = []
    try {
      const ids: number[] = []
      for await (const t of model.generate('', { temperature: 0, maxTokens: 200 })) {
        ids.push(t.id)
        // mid-generation, while the session's push stream from tab A to tab B is open
        if (ids.length === 50) links = await a.page.evaluate((peer: string) => gridllm.node.connections().filter((c: { peer: string }) => c.peer === peer), peerB)
      }
      assert.deepEqual(ids, expectedIds())
    } finally {
      await model.close()
    }
    assert.deepEqual(routes[0]!.hops.map(h => [h.peer, h.start, h.end]), [[servers[0]!.peer, 0, 2], [peerA, 2, 3], [peerB, 3, 4], [servers[1]!.peer, 4, 5]])
    const pushing = links.filter(c => c.protocols.includes(SPAN_PROTOCOL))
    assert.ok(pushing.length > 0, `a span stream from A to B: ${JSON.stringify(links)}`)
    for (const c of pushing) {
      assert.match(c.addr, /\/webrtc\//, 'over WebRTC')
      assert.equal(c.limited, false, 'not through a relay')
    }
    assert.deepEqual([...a.errors, ...b.errors], [])
  })
})

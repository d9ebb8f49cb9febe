/**
 * A tab's account in real Chromium: the tab pays the native servers for its chat from a ledger kept
 * in IndexedDB (its key too), the servers' books agree with it to the µcr, a reload is the same peer
 * with the same balance and chain, the chain checks out both in the page and here in Node, and a
 * second tab of the same browser gets an account of its own (two tabs signing one chain would fork it).
 */
import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { join } from 'node:path'
import type { Browser } from 'playwright-core'
import { type Block, ChainChecker, LEDGER_FILE, SqliteStore } from '../../src/ledger/index.ts'
import { STORIES, type ServerProcess, startServer, startServers, stopServers, tempDir } from '../swarm/harness.ts'
import { type Tab, type WebProcess, launch, openTab, skipBrowser, startWeb } from './harness.ts'

declare const document: any
declare const gridllm: any

interface Credits { peer: string, balance: number, earned: number, spent: number, pending: number, slot: number | undefined, head: { seq: number, hash: string } }

describe('a tab\'s credits, kept in the browser', { skip: skipBrowser() }, () => {
  const servers: ServerProcess[] = []
  const dirs = [tempDir(), tempDir(), tempDir()]
  let web: WebProcess
  let browser: Browser
  let tab: Tab

  const credits = async (t: Tab = tab): Promise<Credits> => await t.page.evaluate(() => gridllm.credits())

  before(async () => {
    servers.push(await startServer(STORIES, ['--blocks', '0:2', '--data-dir', dirs[0]!.path]))
    await startServers(servers, STORIES, [['--blocks', '2:4', '--data-dir', dirs[1]!.path], ['--blocks', '4:5', '--data-dir', dirs[2]!.path]], { bootstrap: [servers[0]!] })
    web = await startWeb(servers[0]!)
    browser = await launch()
    tab = await openTab(browser, `${web.url}/?prompt=&n=40&temperature=0`)
  })

  after(async () => {
    await browser?.close()
    await web?.stop()
    await stopServers(servers)
    for (const d of dirs) d.remove()
  })

  test('the tab pays for its chat from its own account, and every server\'s books agree to the µcr', async () => {
    await tab.page.waitForFunction(() => ['1', 'error'].includes(document.getElementById('output').dataset.done), null, { timeout: 90_000 })
    assert.equal(await tab.page.evaluate(() => document.getElementById('output').dataset.done), '1', await tab.page.evaluate(() => document.getElementById('error').textContent))
    await tab.page.waitForFunction(() => { const c = gridllm.credits(); return c.spent > 0 && c.pending === 0 }, null, { timeout: 30_000 })
    const c = await credits()
    assert.equal(c.peer, await tab.peer())
    assert.equal(c.slot, 0, 'the browser\'s first account')
    assert.ok(c.balance > 0 && c.balance === 250_000 - c.spent, `the grant less what it spent: ${JSON.stringify(c)}`)
    // what the servers were paid by this tab, from their own ledgers (SQLite, read beside the running servers)
    let paid = 0
    for (const d of dirs) {
      const store = new SqliteStore(join(d.path, LEDGER_FILE))
      try {
        paid += store.recent(1_000_000).filter(r => r.role === 'payee' && r.counterparty === c.peer).reduce((n, r) => n + r.amount, 0)
      } finally {
        store.close()
      }
    }
    assert.equal(paid, c.spent, 'the servers were paid exactly what the tab spent')
    // the page shows it
    await tab.page.waitForFunction((spent: number) => document.getElementById('credits').dataset.spent === String(spent), c.spent, { timeout: 10_000 })
    assert.deepEqual(tab.errors, [])
  })

  test('a reload is the same peer with the same balance, and its chain checks out in the page and in Node', async () => {
    const before_ = await credits()
    await tab.page.reload()
    await tab.page.waitForFunction(() => (globalThis as any).gridllm !== undefined && document.getElementById('credits').dataset.blocks !== undefined, null, { timeout: 60_000 })
    const after_ = await credits()
    assert.deepEqual([after_.peer, after_.slot, after_.balance, after_.spent, after_.head], [before_.peer, 0, before_.balance, before_.spent, before_.head])
    const report = await tab.page.evaluate(async () => await gridllm.verifyCredits())
    assert.equal(report.ok, true, JSON.stringify(report.problems))
    assert.equal(report.account, after_.peer)
    const blocks = await tab.page.evaluate(() => gridllm.account.ledger.store.blocks(0, 100_000)) as Block[]
    assert.equal(blocks.length, after_.head.seq + 1)
    const checker = new ChainChecker(after_.peer)
    for (const b of blocks) assert.deepEqual(await checker.check(b), [], `block ${b.seq}`)
    assert.deepEqual(blocks.map(b => b.kind), ['open', ...blocks.slice(1).map(() => 'debit')])
  })

  test('a second tab of the same browser, open beside the first, gets an account of its own', async () => {
    const second = await tab.context.newPage()
    try {
      await second.goto(web.url)
      await second.waitForFunction(() => (globalThis as any).gridllm !== undefined, null, { timeout: 60_000 })
      const c = await second.evaluate(() => gridllm.credits()) as Credits
      assert.equal(c.slot, 1)
      assert.notEqual(c.peer, (await credits()).peer)
      assert.equal(c.head.seq, 0, 'a new account: its grant alone')
    } finally {
      await second.close()
    }
    assert.equal((await credits()).slot, 0, 'the first tab keeps its account')
  })
})

/**
 * A browser tab as a client, in real Chromium: `?prompt=&n=200&temperature=0` through three native
 * servers (tokenizer, embedding, head and sampling in the tab, fetched from the swarm) writes
 * llama2.c's reference text into #output, and the page shows the route it took.
 */
import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import type { Browser } from 'playwright-core'
import { Model } from '../../src/model/index.ts'
import { expectedText } from '../fixtures/stories.ts'
import { STORIES, type ServerProcess, startServer, startServers, stopServers } from '../swarm/harness.ts'
import { type Tab, type WebProcess, launch, openTab, skipBrowser, startWeb } from './harness.ts'

declare const document: any

describe('a tab chatting through the swarm', { skip: skipBrowser() }, () => {
  const servers: ServerProcess[] = []
  let web: WebProcess
  let browser: Browser

  before(async () => {
    servers.push(await startServer(STORIES, ['--blocks', '0:2']))
    await startServers(servers, STORIES, [['--blocks', '2:4'], ['--blocks', '4:5']], { bootstrap: [servers[0]!] })
    web = await startWeb(servers[0]!)
    browser = await launch()
  })

  after(async () => {
    await browser?.close()
    await web?.stop()
    await stopServers(servers)
  })

  const generate = async (query: string): Promise<{ tab: Tab, text: string }> => {
    const tab = await openTab(browser, `${web.url}/?${query}`)
    await tab.page.waitForFunction(() => ['1', 'error'].includes(document.getElementById('output').dataset.done), null, { timeout: 90_000 })
    const done = await tab.page.evaluate(() => document.getElementById('output').dataset.done)
    const error = await tab.page.evaluate(() => document.getElementById('error').textContent)
    assert.equal(done, '1', error)
    return { tab, text: await tab.page.evaluate(() => document.getElementById('output').textContent) }
  }

  test('?prompt= with greedy sampling gives the reference text, 200 tokens from BOS', async () => {
    const { tab, text } = await generate('prompt=&n=200&temperature=0')
    assert.equal(text, expectedText())
    const hops = await tab.page.evaluate(() => [...document.querySelectorAll('#route .hop')].map((h: any) => h.dataset.peer))
    assert.deepEqual(hops, servers.map(s => s.peer))
    assert.deepEqual(tab.errors, [])
    await tab.context.close()
  })

  test('a prompt continues like the native client, and the chat box answers', async () => {
    const { tab, text } = await generate('prompt=Once%20upon%20a%20time&n=30&temperature=0')
    const local = await Model.load(STORIES)
    const gen = local.generate('Once upon a time', { temperature: 0, maxTokens: 30 })
    for await (const _ of gen) { /* run it */ }
    await local.close()
    assert.equal(text, gen.text)
    await tab.page.getByLabel('Message').fill('Tell me about a cat')
    await tab.page.getByRole('button', { name: 'Send' }).click()
    await tab.page.waitForFunction(() => document.querySelectorAll('#transcript li.assistant').length === 1, null, { timeout: 60_000 })
    const reply = await tab.page.evaluate(() => document.querySelector('#transcript li.assistant').textContent)
    assert.ok(typeof reply === 'string')
    assert.deepEqual(tab.errors, [])
    await tab.context.close()
  })
})

/**
 * Takes the README's dashboard screenshot: native servers of stories260K for blocks 0:2 and 4:5, a
 * tab serving 2:4, and a second tab that generated through them (its route highlighted).
 *
 * Usage: node --import ./bin/polyfill.mjs --import tsx scripts/dashboard-screenshot.ts [docs/dashboard.png]
 */
import { STORIES, type ServerProcess, startServer, stopServers } from '../test/swarm/harness.ts'
import { launch, openTab, startWeb, waitServing } from '../test/web/harness.ts'

declare const document: any

const out = process.argv[2] ?? 'docs/dashboard.png'
const servers: ServerProcess[] = []
servers.push(await startServer(STORIES, ['--blocks', '0:2', '--name', 'alice']))
servers.push(await startServer(STORIES, ['--blocks', '4:5', '--name', 'bob'], { bootstrap: [servers[0]!] }))
const web = await startWeb(servers[0]!)
const browser = await launch()
try {
  const donor = await openTab(browser, `${web.url}/?serve=2:4`)
  await waitServing(donor)
  const viewer = await openTab(browser, `${web.url}/?prompt=Once%20upon%20a%20time&n=48&temperature=0`, { width: 1200, height: 900 })
  await viewer.page.waitForFunction(() => document.getElementById('output').dataset.done === '1', null, { timeout: 60_000 })
  await viewer.page.waitForFunction(() => document.querySelectorAll('table.coverage tbody tr').length === 3, null, { timeout: 30_000 })
  await viewer.page.waitForFunction(() => document.querySelectorAll('table.coverage tbody tr td:nth-child(5)').length === 3 &&
    [...document.querySelectorAll('table.coverage tbody tr td:nth-child(5)')].every((td: any) => td.textContent !== '–'), null, { timeout: 30_000 })
  await viewer.page.screenshot({ path: out, fullPage: true })
  console.log(`wrote ${out}`)
  const errors = [...donor.errors, ...viewer.errors]
  if (errors.length > 0) throw new Error(`console errors: ${errors.join(' | ')}`)
} finally {
  await browser.close()
  await web.stop()
  await stopServers(servers)
}

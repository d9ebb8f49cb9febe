/**
 * Browser tests: real Chromium (Debian's /usr/bin/chromium, driven by playwright-core) opening the
 * page that `gridllm web` serves, next to `gridllm serve` processes on loopback. Without Chromium
 * the tests are skipped, unless GRIDLLM_REQUIRE_BROWSER is set (CI sets it).
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { type Browser, type BrowserContext, type Page, chromium } from 'playwright-core'
import { ROOT, type ServerProcess } from '../swarm/harness.ts'

/** the page's document, inside page.evaluate() callbacks (this project compiles without the DOM typings) */
declare const document: any

export const CHROMIUM = '/usr/bin/chromium'
const FLAGS = ['--no-sandbox', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run']

/** The reason to skip browser tests here, if any. */
export function skipBrowser (): string | false {
  if (existsSync(CHROMIUM)) return false
  if (process.env.GRIDLLM_REQUIRE_BROWSER !== undefined) throw new Error(`GRIDLLM_REQUIRE_BROWSER is set but ${CHROMIUM} is missing (apt-get install -y chromium)`)
  return `no Chromium at ${CHROMIUM} (apt-get install -y chromium)`
}

export async function launch (extraArgs: readonly string[] = []): Promise<Browser> {
  return await chromium.launch({ executablePath: CHROMIUM, args: [...FLAGS, ...extraArgs] })
}

export interface WebProcess {
  readonly proc: ChildProcess
  readonly url: string
  readonly log: () => string
  stop (): Promise<void>
}

/** Starts `gridllm web --bootstrap <first server> --port 0`; resolves once the page is served. */
export async function startWeb (bootstrap: ServerProcess): Promise<WebProcess> {
  const proc = spawn(process.execPath, [join(ROOT, 'bin/gridllm.mjs'), 'web', '--bootstrap', bootstrap.addr, '--port', '0'], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] })
  let stderr = ''
  let stdout = ''
  proc.stderr!.on('data', (d: Buffer) => { stderr += d.toString() })
  const exited = new Promise<void>(resolve => { proc.on('exit', () => resolve()) })
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => { proc.kill('SIGKILL'); reject(new Error(`gridllm web did not start:\n${stderr}`)) }, 60_000)
    proc.stdout!.on('data', (d: Buffer) => {
      stdout += d.toString()
      const m = /^listening (\S+)$/m.exec(stdout)
      if (m !== null) { clearTimeout(timer); resolve(m[1]!) }
    })
    void exited.then(() => { clearTimeout(timer); reject(new Error(`gridllm web exited:\n${stderr}`)) })
  })
  return {
    proc,
    url,
    log: () => stderr,
    stop: async () => {
      if (proc.exitCode !== null || proc.signalCode !== null) return
      proc.kill('SIGTERM')
      const t = setTimeout(() => proc.kill('SIGKILL'), 5000)
      await exited
      clearTimeout(t)
    }
  }
}

export interface Tab {
  readonly page: Page
  readonly context: BrowserContext
  /** console errors and uncaught exceptions */
  readonly errors: string[]
  /** every URL the page fetched over HTTP */
  readonly requests: string[]
  readonly peer: () => Promise<string>
}

/** Opens the page in a context of its own (its own OPFS: another user). */
export async function openTab (browser: Browser, url: string, viewport = { width: 1280, height: 900 }): Promise<Tab> {
  const context = await browser.newContext({ viewport })
  const page = await context.newPage()
  const errors: string[] = []
  const requests: string[] = []
  page.on('console', m => { if (m.type() === 'error') errors.push(m.text()); })
  page.on('pageerror', e => { errors.push(`uncaught: ${e.message}`) })
  context.on('request', r => { requests.push(r.url()) })
  await page.goto(url)
  return { page, context, errors, requests, peer: async () => await page.evaluate(() => (globalThis as unknown as { gridllm: { peerId: string } }).gridllm.peerId) }
}

/** Waits until the tab serves (the page sets data-serving on <body>); returns the span. */
export async function waitServing (tab: Tab, timeoutMs = 90_000): Promise<string> {
  await tab.page.waitForFunction(() => document.body.dataset.serving !== undefined || !document.getElementById('error')!.hidden, null, { timeout: timeoutMs })
  const error = await tab.page.evaluate(() => document.getElementById('error')!.hidden ? undefined : document.getElementById('error')!.textContent)
  if (error !== undefined) throw new Error(`the tab failed: ${error}`)
  return await tab.page.evaluate(() => document.body.dataset.serving!)
}

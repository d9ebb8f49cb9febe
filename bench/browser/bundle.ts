/**
 * Bundles bench/browser/harness.ts (gridllm's kernels and forward pass) for Chromium, into
 * bench/.cache/browser/, and what a bench's page needs to run it: the routes its server serves
 * and the page script that runs one HarnessRun in a fresh Worker (window.gridllmRun).
 */
import { fileURLToPath } from 'node:url'
import { bundleForBrowser } from '../../test/fixtures/browser.ts'

export const BROWSER_DIR = fileURLToPath(new URL('../.cache/browser/', import.meta.url))
const kernelsDir = fileURLToPath(new URL('../../src/kernels/wasm/', import.meta.url))

/** The harness's files, and the GGUF files in `models` under /models/. */
export function harnessRoutes (models: string): Array<[string, string]> {
  return [
    ['/models/', models], ['/kernels.wasm', `${kernelsDir}build/kernels.wasm`],
    ['/kernels-dot.wasm', `${kernelsDir}build/kernels-dot.wasm`], ['/worker-loop.mjs', `${kernelsDir}worker-loop.mjs`],
    ['/worker.js', `${kernelsDir}worker.browser.mjs`], ['/harness.js', `${BROWSER_DIR}harness.js`]
  ]
}

/** A module script's body: window.gridllmRun(run) runs a HarnessRun in a fresh Worker and resolves with its HarnessResult. */
export const HARNESS_PAGE_SCRIPT = `window.gridllmRun = run => new Promise((resolve, reject) => {
  const w = new Worker('/harness.js', { type: 'module' })
  w.onmessage = e => { w.terminate(); e.data.error === undefined ? resolve(e.data.result) : reject(new Error(e.data.error)) }
  w.onerror = e => { w.terminate(); reject(new Error(e.message)) }
  w.postMessage(run)
})`

export async function bundleHarness (): Promise<string> {
  const outfile = `${BROWSER_DIR}harness.js`
  await bundleForBrowser(fileURLToPath(new URL('./harness.ts', import.meta.url)), outfile)
  return outfile
}

/** Bundles bench/browser/harness.ts (gridllm's kernels and forward pass) for Chromium, into bench/.cache/browser/. */
import { fileURLToPath } from 'node:url'
import { bundleForBrowser } from '../../test/fixtures/browser.ts'

export const BROWSER_DIR = fileURLToPath(new URL('../.cache/browser/', import.meta.url))

export async function bundleHarness (): Promise<string> {
  const outfile = `${BROWSER_DIR}harness.js`
  await bundleForBrowser(fileURLToPath(new URL('./harness.ts', import.meta.url)), outfile)
  return outfile
}

/** Bundles bench/browser/harness.ts (gridllm's kernels and forward pass) for Chromium, into bench/.cache/browser/. */
import { build } from 'esbuild'
import { fileURLToPath } from 'node:url'

export const BROWSER_DIR = fileURLToPath(new URL('../.cache/browser/', import.meta.url))

export async function bundleHarness (): Promise<string> {
  const outfile = `${BROWSER_DIR}harness.js`
  await build({
    entryPoints: [fileURLToPath(new URL('./harness.ts', import.meta.url))],
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    outfile,
    logLevel: 'warning',
    // src/tensor's index also exports the wire frames, which take crc32 from node:zlib: unused here
    plugins: [{
      name: 'node-stubs',
      setup (b) {
        b.onResolve({ filter: /^node:/ }, args => ({ path: args.path, namespace: 'node-stub' }))
        b.onLoad({ filter: /.*/, namespace: 'node-stub' }, () => ({ contents: 'export function crc32 () { throw new Error("not in the browser harness") }' }))
      }
    }]
  })
  return outfile
}

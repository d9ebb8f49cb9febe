// Builds the browser node and dashboard into web/dist with esbuild (run by `npm install`'s prepare
// step, or `npm run build:web`). The page reuses src/net, src/swarm, src/model and src/kernels as
// they are, through the platform seams of web/seams.mjs.
import { build } from 'esbuild'
import { browserSeams } from './seams.mjs'
import { cp, mkdir, rm } from 'node:fs/promises'
import { join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = fileURLToPath(new URL('..', import.meta.url))
const out = join(root, 'web', 'dist')

export async function buildWeb ({ minify = true } = {}) {
  await rm(out, { recursive: true, force: true })
  await mkdir(join(out, 'build'), { recursive: true })
  const common = {
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: 'es2023',
    minify,
    sourcemap: true,
    logLevel: 'warning',
    define: { 'process.env.NODE_ENV': '"production"', global: 'globalThis' },
    plugins: [browserSeams]
  }
  await build({
    ...common,
    entryPoints: { app: join(root, 'web/app/main.ts'), 'span-worker': join(root, 'web/node/span-worker.ts'), 'kernel-worker': join(root, 'src/kernels/wasm/worker.browser.mjs') },
    outdir: out
  })
  for (const f of ['kernels.wasm', 'kernels-relaxed.wasm']) await cp(join(root, 'src/kernels/wasm/build', f), join(out, 'build', f))
  for (const f of ['index.html', 'style.css']) await cp(join(root, 'web/app', f), join(out, f))
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  await buildWeb({ minify: !process.argv.includes('--dev') })
  console.log(`built ${out}`)
}

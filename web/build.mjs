// Builds the browser node and dashboard into web/dist with esbuild (run by `npm install`'s prepare
// step, or `npm run build:web`). The page reuses src/net, src/swarm, src/model and src/kernels as
// they are; where those use Node, the platform seams below pick the browser's side:
//   - a file with a browser twin (BROWSER_TWINS) is replaced by it: the same exports, browser APIs
//   - node:fs, node:fs/promises and node:path resolve to stubs that throw: only the file loaders
//     use them, and a tab has no files (its weights come from the swarm, into OPFS)
//   - node:events' setMaxListeners (silencing Node's warning about many AbortSignal listeners) is a no-op
import { build } from 'esbuild'
import { cp, mkdir, rm } from 'node:fs/promises'
import { join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = fileURLToPath(new URL('..', import.meta.url))
const out = join(root, 'web', 'dist')

const BROWSER_TWINS = {
  'src/util/sha256.ts': 'src/util/sha256.browser.ts',
  'src/tensor/crc32.ts': 'src/tensor/crc32.browser.ts',
  'src/kernels/wasm/node.ts': 'src/kernels/wasm/browser.ts',
  'src/net/transports.ts': 'src/net/transports.browser.ts',
  'src/model/tokenizer/offload.ts': 'src/model/tokenizer/offload.browser.ts'
}
const NO_FILES = {
  'node:fs': ['openSync', 'readSync', 'closeSync', 'statSync', 'fstatSync', 'readdirSync', 'existsSync', 'readFileSync', 'writeSync', 'writeFileSync', 'mkdirSync', 'renameSync'],
  'node:fs/promises': ['open', 'readFile', 'writeFile', 'mkdir', 'readdir', 'rename'],
  'node:path': ['basename', 'dirname', 'join']
}

const twins = {
  name: 'gridllm-browser-seams',
  setup (b) {
    const twinOf = new Map(Object.entries(BROWSER_TWINS).map(([k, v]) => [join(root, k), join(root, v)]))
    b.onResolve({ filter: /\.ts$/ }, args => {
      if (!args.path.startsWith('.')) return undefined
      const twin = twinOf.get(resolve(args.resolveDir, args.path))
      return twin === undefined ? undefined : { path: twin }
    })
    b.onResolve({ filter: /^node:(fs|fs\/promises|path)$/ }, args => ({ path: args.path, namespace: 'no-files' }))
    // Node's listener-count warning for AbortSignals has no browser counterpart: a no-op there
    b.onResolve({ filter: /^node:events$/ }, () => ({ path: 'node:events', namespace: 'no-events' }))
    b.onLoad({ filter: /.*/, namespace: 'no-events' }, () => ({ loader: 'js', contents: 'export const setMaxListeners = () => {}\n' }))
    b.onLoad({ filter: /.*/, namespace: 'no-files' }, args => ({
      loader: 'js',
      contents: `const none = () => { throw new Error('${args.path} is not available in a browser') }\n` +
        NO_FILES[args.path].map(n => `export const ${n} = none`).join('\n')
    }))
  }
}

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
    plugins: [twins]
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

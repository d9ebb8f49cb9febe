// The platform seams of a browser bundle: src/net, src/swarm, src/model and src/kernels are used as
// they are; where those use Node, the browser's side is picked:
//   - a file with a browser twin (BROWSER_TWINS) is replaced by it: the same exports, browser APIs
//   - node:fs, node:fs/promises and node:path resolve to stubs that throw: only the file loaders
//     use them, and a tab has no files (its weights come from the swarm, into OPFS)
//   - node:events' setMaxListeners (silencing Node's warning about many AbortSignal listeners) is a no-op
// Used by web/build.mjs (the page and its workers) and by the tests' and benchmarks' browser bundles.
import { join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = fileURLToPath(new URL('..', import.meta.url))

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

/** The esbuild plugin. */
export const browserSeams = {
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


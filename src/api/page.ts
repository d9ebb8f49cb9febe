/**
 * The web page (web/dist, built by `npm install`): the browser node and the live dashboard. Served
 * cross-origin isolated (COOP + COEP), which the kernels' shared memory needs, with /config.json
 * telling the page which peers to join through. `gridllm web` serves only this; `gridllm api`,
 * `serve --api` and `demo` serve it next to the API.
 */
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs'
import type { Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { extname, join, relative, sep } from 'node:path'
import { createAdaptorServer } from '@hono/node-server'
import { Hono } from 'hono'
import { GridError, InvalidArgumentError } from '../util/errors.ts'

export interface PageOptions {
  /** the built page (web/dist) */
  dir: string
  /** the WebSockets multiaddrs (with /p2p/) the page joins through */
  bootstrap: () => readonly string[] | Promise<readonly string[]>
  version: string
}

const ISOLATION = {
  'Cross-Origin-Opener-Policy': 'same-origin',
  'Cross-Origin-Embedder-Policy': 'require-corp',
  'Cross-Origin-Resource-Policy': 'same-origin'
}

const TYPES: Readonly<Record<string, string>> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json',
  '.map': 'application/json',
  '.wasm': 'application/wasm'
}

function files (dir: string): string[] {
  return readdirSync(dir).flatMap(name => {
    const path = join(dir, name)
    return statSync(path).isDirectory() ? files(path) : [path]
  })
}

/** The page's routes: /, /config.json and each file of the bundle (read once, at start). Nothing else. */
export function pageRoutes (options: PageOptions): Hono {
  if (!existsSync(join(options.dir, 'index.html'))) {
    throw new GridError('INTERNAL', `the web page is not built (${options.dir}); run \`npm run build:web\``)
  }
  const app = new Hono()
  const headers = (type: string): Record<string, string> => ({ ...ISOLATION, 'Content-Type': type, 'Cache-Control': 'no-cache' })
  for (const path of files(options.dir)) {
    const type = TYPES[extname(path)]
    if (type === undefined) continue
    const body = readFileSync(path)
    const route = `/${relative(options.dir, path).split(sep).join('/')}`
    app.get(route, c => c.body(body, 200, headers(type)))
    if (route === '/index.html') app.get('/', c => c.body(body, 200, headers(type)))
  }
  app.get('/config.json', async c => c.body(JSON.stringify({ bootstrap: await options.bootstrap(), version: options.version }), 200, headers(TYPES['.json']!)))
  return app
}

export interface PageServer {
  readonly url: string
  close (): Promise<void>
}

/** Serves the page alone (`gridllm web`). */
export async function servePage (options: PageOptions & { host?: string, port?: number }): Promise<PageServer> {
  const app = pageRoutes(options)
  const host = options.host ?? '127.0.0.1'
  const server = createAdaptorServer({ fetch: app.fetch, hostname: host }) as Server
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) => {
      reject(new InvalidArgumentError(`cannot listen on ${host}:${options.port ?? 0}: ${err.code === 'EADDRINUSE' ? 'the address is in use' : err.message}`, { cause: err, param: 'port' }))
    })
    server.listen(options.port ?? 0, host, () => { server.removeAllListeners('error'); resolve() })
  })
  const { port } = server.address() as AddressInfo
  return {
    url: `http://${host.includes(':') ? `[${host}]` : host}:${port}`,
    close: async () => {
      await new Promise<void>(resolve => { server.close(() => resolve()); server.closeAllConnections() })
    }
  }
}

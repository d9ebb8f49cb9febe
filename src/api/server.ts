/**
 * The HTTP API: OpenAI-compatible routes under /v1, Ollama's under /api, Prometheus metrics at
 * /metrics, GET /health. createApi() builds the app around any Engine (a local model, or the swarm
 * client); serveApi() runs it on Node's HTTP server, and is what `gridllm api` and
 * `gridllm serve --api` call. In front of the routes: metrics, the Host allowlist (without an API
 * key), CORS (preflights before authentication), the API key, JSON-only bodies, the cap on large
 * bodies and the body size limit (guards.ts).
 */
import { createHash, timingSafeEqual } from 'node:crypto'
import type { Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { createAdaptorServer } from '@hono/node-server'
import { type Context, Hono } from 'hono'
import { bodyLimit } from 'hono/body-limit'
import { AbortError, InvalidArgumentError, RequestRefusedError, UnauthorizedError } from '../util/errors.ts'
import { logger } from '../util/log.ts'
import { packageVersion } from '../util/version.ts'
import type { ApiContext } from './context.ts'
import { type Engine, engineHealth } from './engine.ts'
import { httpError } from './errors.ts'
import { DEFAULT_MAX_LARGE_BODIES, LOCAL_ORIGINS, corsGuard, hostGuard, jsonOnly, largeBodyCap } from './guards.ts'
import { Limiter } from './limiter.ts'
import { type CreditStats, METRICS_CONTENT_TYPE, Metrics } from './metrics.ts'
import { ollamaRoutes } from './ollama/routes.ts'
import { openaiRoutes } from './openai/routes.ts'
import { type PageOptions, pageRoutes } from './page.ts'

const log = logger('api:server')

export const DEFAULT_MAX_CONCURRENCY = 4
/** Ollama queues 512; a queued request holds at most a small body (large ones are capped apart) */
export const DEFAULT_MAX_QUEUE = 512
const MAX_BODY_BYTES = 4 * 1024 * 1024

/** Routes counted by name in /metrics; anything else is "other". */
const ROUTES = new Set(['/v1/chat/completions', '/v1/completions', '/v1/responses', '/v1/embeddings', '/v1/models', '/api/chat', '/api/generate',
  '/api/embed', '/api/tags', '/api/show', '/api/ps', '/metrics', '/health'])

export interface ApiOptions {
  engine: Engine
  /** require `Authorization: Bearer <apiKey>` on every route but the page's (GET /) */
  apiKey?: string
  /** generations running at once (default 4) */
  maxConcurrency?: number
  /** requests waiting for a slot before more are refused with 429 (default 512) */
  maxQueue?: number
  /** origins allowed to call from a browser (CORS); `*` for any; default: localhost origins */
  cors?: readonly string[]
  /** without an API key: host names answered besides IP addresses and localhost (`*` for any) */
  allowedHosts?: readonly string[]
  /** requests with bodies over 64 KiB in flight at once (default 4) */
  maxLargeBodies?: number
  /** reported by /api/version (default: the package's) */
  version?: string
  /** also serve the web page (the browser node and dashboard) at / */
  page?: PageOptions
  /** the node's credit account for /metrics (undefined while it is not open, or with credits off) */
  credits?: () => CreditStats | undefined
}

export interface Api {
  readonly app: Hono
  readonly ctx: ApiContext
  /** Aborts every request in flight. */
  abortAll (reason?: unknown): void
}

function digest (s: string): Buffer {
  return createHash('sha256').update(s).digest()
}

/** Answers in Ollama's error shape under /api, OpenAI's elsewhere. */
function errorResponse (c: Context, err: unknown): Response {
  const { status, headers, body } = httpError(err)
  for (const [k, v] of Object.entries(headers)) c.header(k, v)
  return isOllama(c) ? c.json({ error: body.error.message }, status) : c.json(body, status)
}

const isOllama = (c: Context): boolean => c.req.path === '/api' || c.req.path.startsWith('/api/')

/** The account for /metrics; a ledger that cannot be read (closing, say) leaves its series out rather than failing the scrape. */
function accountStats (read: (() => CreditStats | undefined) | undefined): CreditStats | undefined {
  try {
    return read?.()
  } catch (err) {
    log('credits for /metrics: %s', (err as Error).message)
    return undefined
  }
}

export function createApi (options: ApiOptions): Api {
  const limiter = new Limiter({ maxConcurrency: options.maxConcurrency ?? DEFAULT_MAX_CONCURRENCY, maxQueue: options.maxQueue ?? DEFAULT_MAX_QUEUE })
  const ctx: ApiContext = { engine: options.engine, limiter, metrics: new Metrics(), inflight: new Set(), version: options.version ?? packageVersion() }
  const app = new Hono()
  const keyed = options.apiKey !== undefined && options.apiKey !== ''

  app.use(async (c, next) => {
    await next()
    ctx.metrics.countRequest(ROUTES.has(c.req.path) ? c.req.path : 'other', c.res.status)
  })
  // a key is what a rebinding page cannot send; without one, only hosts that are surely ours
  if (!keyed) app.use(hostGuard(options.allowedHosts ?? []))
  app.use(corsGuard(options.cors ?? LOCAL_ORIGINS))
  if (options.page !== undefined) app.route('/', pageRoutes(options.page))
  else app.get('/', c => c.text('gridllm is running\n'))
  app.get('/health', c => {
    const h = engineHealth(ctx.engine)
    return h.ok ? c.json({ status: 'ok' }) : c.json({ status: 'unavailable', reason: h.reason }, 503)
  })
  if (keyed) {
    const expected = digest(options.apiKey!)
    app.use(async (c, next) => {
      const m = /^Bearer\s+(.+)$/i.exec(c.req.header('Authorization') ?? '')
      if (m === null || !timingSafeEqual(digest(m[1]!.trim()), expected)) {
        throw new UnauthorizedError(m === null ? 'missing API key: send "Authorization: Bearer <key>"' : 'invalid API key')
      }
      await next()
    })
  }
  app.use(jsonOnly)
  app.use(largeBodyCap(options.maxLargeBodies ?? DEFAULT_MAX_LARGE_BODIES))
  app.use(bodyLimit({
    maxSize: MAX_BODY_BYTES,
    onError: c => errorResponse(c, new RequestRefusedError('REQUEST_TOO_LARGE', `the request body is larger than ${MAX_BODY_BYTES} bytes`))
  }))
  app.route('/v1', openaiRoutes(ctx))
  app.route('/api', ollamaRoutes(ctx))
  app.get('/metrics', c => c.body(ctx.metrics.render(limiter, ctx.engine.stats?.(), accountStats(options.credits)), 200, { 'Content-Type': METRICS_CONTENT_TYPE }))
  app.notFound(c => {
    const message = `no route for ${c.req.method} ${c.req.path}`
    return isOllama(c) ? c.json({ error: message }, 404) : c.json({ error: { message, type: 'invalid_request_error', code: 'unknown_url', param: null } }, 404)
  })
  app.onError((err, c) => errorResponse(c, err))

  return {
    app,
    ctx,
    abortAll: reason => { for (const controller of ctx.inflight) controller.abort(reason) }
  }
}

export interface ApiServer {
  /** http://host:port */
  readonly url: string
  readonly port: number
  readonly api: Api
  /** Stops accepting, aborts the requests in flight and waits for their connections to end. */
  close (): Promise<void>
}

export interface ServeApiOptions extends ApiOptions {
  /** default 127.0.0.1 */
  host?: string
  /** default 0: any free port */
  port?: number
  signal?: AbortSignal
}

export async function serveApi (options: ServeApiOptions): Promise<ApiServer> {
  const api = createApi(options)
  const host = options.host ?? '127.0.0.1'
  const server = createAdaptorServer({ fetch: api.app.fetch, hostname: host }) as Server // node:http, the default
  await new Promise<void>((resolve, reject) => {
    const onAbort = (): void => { server.close(); reject(new AbortError('cancelled while starting the API server')) }
    if (options.signal?.aborted === true) { onAbort(); return }
    options.signal?.addEventListener('abort', onAbort, { once: true })
    server.once('error', (err: NodeJS.ErrnoException) => {
      options.signal?.removeEventListener('abort', onAbort)
      const why = err.code === 'EADDRINUSE' ? 'the address is in use' : err.code === 'EACCES' ? 'permission denied' : err.message
      reject(new InvalidArgumentError(`cannot listen on ${host}:${options.port ?? 0}: ${why}`, { cause: err, param: 'port' }))
    })
    server.listen(options.port ?? 0, host, () => {
      options.signal?.removeEventListener('abort', onAbort)
      server.removeAllListeners('error')
      resolve()
    })
  })
  const { port } = server.address() as AddressInfo
  const url = `http://${host.includes(':') ? `[${host}]` : host}:${port}`
  log('listening on %s', url)
  let closing: Promise<void> | undefined
  return {
    url,
    port,
    api,
    close: async () => {
      closing ??= new Promise<void>(resolve => {
        // streams end once their generations see the abort; their connections are closed as they
        // go idle, and anything still open after the grace period is cut
        const idle = setInterval(() => server.closeIdleConnections(), 50)
        const cut = setTimeout(() => server.closeAllConnections(), 2000)
        server.close(() => { clearInterval(idle); clearTimeout(cut); resolve() })
        api.abortAll(new AbortError('the server is shutting down'))
        server.closeIdleConnections()
      })
      await closing
    }
  }
}

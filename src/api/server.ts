/**
 * The HTTP API: OpenAI-compatible routes under /v1, Ollama's under /api, Prometheus metrics at
 * /metrics. createApi() builds the app around any Engine (a local model now, the swarm client
 * later); serveApi() runs it on Node's HTTP server, and is what `gridllm api` and
 * `gridllm serve --api` call.
 */
import { createHash, timingSafeEqual } from 'node:crypto'
import type { Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { createAdaptorServer } from '@hono/node-server'
import { type Context, Hono } from 'hono'
import { bodyLimit } from 'hono/body-limit'
import { AbortError, InvalidArgumentError, UnauthorizedError } from '../util/errors.ts'
import { logger } from '../util/log.ts'
import type { ApiContext } from './context.ts'
import type { Engine } from './engine.ts'
import { httpError } from './errors.ts'
import { Limiter } from './limiter.ts'
import { METRICS_CONTENT_TYPE, Metrics } from './metrics.ts'
import { ollamaRoutes } from './ollama/routes.ts'
import { openaiRoutes } from './openai/routes.ts'
import { type PageOptions, pageRoutes } from './page.ts'

const log = logger('api:server')

export const DEFAULT_MAX_CONCURRENCY = 4
export const DEFAULT_MAX_QUEUE = 16
const MAX_BODY_BYTES = 4 * 1024 * 1024

/** Routes counted by name in /metrics; anything else is "other". */
const ROUTES = new Set(['/v1/chat/completions', '/v1/completions', '/v1/models', '/api/chat', '/api/generate', '/api/tags', '/metrics'])

export interface ApiOptions {
  engine: Engine
  /** require `Authorization: Bearer <apiKey>` on every route but the page's (GET /) */
  apiKey?: string
  /** generations running at once (default 4) */
  maxConcurrency?: number
  /** requests waiting for a slot before more are refused with 429 (default 16) */
  maxQueue?: number
  /** also serve the web page (the browser node and dashboard) at / */
  page?: PageOptions
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
  return c.req.path.startsWith('/api/') ? c.json({ error: body.error.message }, status) : c.json(body, status)
}

export function createApi (options: ApiOptions): Api {
  const limiter = new Limiter({ maxConcurrency: options.maxConcurrency ?? DEFAULT_MAX_CONCURRENCY, maxQueue: options.maxQueue ?? DEFAULT_MAX_QUEUE })
  const ctx: ApiContext = { engine: options.engine, limiter, metrics: new Metrics(), inflight: new Set() }
  const app = new Hono()

  app.use(async (c, next) => {
    await next()
    ctx.metrics.countRequest(ROUTES.has(c.req.path) ? c.req.path : 'other', c.res.status)
  })
  if (options.page !== undefined) app.route('/', pageRoutes(options.page))
  else app.get('/', c => c.text('gridllm is running\n'))
  if (options.apiKey !== undefined && options.apiKey !== '') {
    const expected = digest(options.apiKey)
    app.use(async (c, next) => {
      const m = /^Bearer\s+(.+)$/i.exec(c.req.header('Authorization') ?? '')
      if (m === null || !timingSafeEqual(digest(m[1]!.trim()), expected)) {
        throw new UnauthorizedError(m === null ? 'missing API key: send "Authorization: Bearer <key>"' : 'invalid API key')
      }
      await next()
    })
  }
  app.use(bodyLimit({
    maxSize: MAX_BODY_BYTES,
    onError: c => c.json({ error: { message: `the request body is larger than ${MAX_BODY_BYTES} bytes`, type: 'invalid_request_error', code: 'request_too_large', param: null } }, 413)
  }))
  app.route('/v1', openaiRoutes(ctx))
  app.route('/api', ollamaRoutes(ctx))
  app.get('/metrics', c => c.body(ctx.metrics.render(limiter, ctx.engine.stats?.()), 200, { 'Content-Type': METRICS_CONTENT_TYPE }))
  app.notFound(c => c.json({ error: { message: `no route for ${c.req.method} ${c.req.path}`, type: 'invalid_request_error', code: 'unknown_url', param: null } }, 404))
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

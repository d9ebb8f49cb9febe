/**
 * What keeps web pages and floods off the API: a Host allowlist when no API key is set (a
 * DNS-rebinding page names its own domain; IP literals and localhost names are allowed, other names
 * only when listed), CORS for the origins allowed (localhost ones by default; preflights are
 * answered before authentication), JSON bodies only as application/json (a page's form or
 * text/plain POST needs no preflight), and a cap on large bodies in flight at once.
 */
import { isIP } from 'node:net'
import type { Context, MiddlewareHandler } from 'hono'
import { cors } from 'hono/cors'
import { OverloadedError, RequestRefusedError } from '../util/errors.ts'

/** Hosts answered by default (any port); `*` in a list allows every host. */
export const LOCAL_HOSTS: readonly string[] = ['localhost', '*.localhost']
/** Origins allowed by CORS by default: pages served from this machine. */
export const LOCAL_ORIGINS: readonly string[] = ['http://localhost', 'https://localhost', 'http://127.0.0.1', 'https://127.0.0.1', 'http://[::1]', 'https://[::1]']
/** A body above this is large. */
export const LARGE_BODY_BYTES = 64 * 1024
/** Large bodies being read or served at once, by default. */
export const DEFAULT_MAX_LARGE_BODIES = 4

/** The name in a Host header, without the port; IPv6 literals keep their brackets off. */
export function hostName (header: string): string {
  const h = header.trim().toLowerCase()
  if (h.startsWith('[')) return h.slice(1, h.indexOf(']'))
  const colon = h.lastIndexOf(':')
  return colon >= 0 && h.indexOf(':') === colon ? h.slice(0, colon) : h
}

function matches (name: string, pattern: string): boolean {
  const p = pattern.toLowerCase()
  return p === '*' || p === name || (p.startsWith('*.') && name.endsWith(p.slice(1)))
}

/** Refuses requests whose Host is neither an IP address, nor a localhost name, nor in `allowed`. */
export function hostGuard (allowed: readonly string[]): MiddlewareHandler {
  const list = [...LOCAL_HOSTS, ...allowed]
  return async (c, next) => {
    const header = c.req.header('Host') ?? new URL(c.req.url).host
    const name = hostName(header)
    if (isIP(name) === 0 && !list.some(p => matches(name, p))) {
      throw new RequestRefusedError('FORBIDDEN', `this server does not answer for host "${name}"; allow it with --allowed-hosts, or set --api-key`)
    }
    await next()
  }
}

/** An origin (scheme://host[:port]) is allowed if it equals one of `origins` up to the port, or they contain `*`. */
export function originAllowed (origin: string, origins: readonly string[]): boolean {
  if (origins.includes('*')) return true
  const withoutPort = origin.replace(/:\d+$/, '')
  return origins.some(o => o === origin || o === withoutPort)
}

export function corsGuard (origins: readonly string[]): MiddlewareHandler {
  return cors({
    origin: origin => originAllowed(origin, origins) ? origin : null,
    allowMethods: ['GET', 'POST', 'OPTIONS'],
    // no list: the headers a preflight asks for are allowed (clients send their own, e.g. openai's x-stainless-*)
    maxAge: 600
  })
}

/** POST bodies must be application/json. */
export const jsonOnly: MiddlewareHandler = async (c, next) => {
  if (c.req.method === 'POST') {
    const type = (c.req.header('Content-Type') ?? '').split(';')[0]!.trim().toLowerCase()
    if (type !== 'application/json') {
      throw new RequestRefusedError('UNSUPPORTED_MEDIA_TYPE', `the request body must be JSON sent as "Content-Type: application/json"${type === '' ? '' : `, not ${type}`}`)
    }
  }
  await next()
}

/** When the response is over (its connection closed, for Node's server), or else when the handler returns. */
function onFinished (c: Context, done: () => void): boolean {
  const res = (c.env as { outgoing?: { once: (e: string, f: () => void) => void } } | undefined)?.outgoing
  if (res === undefined) return false
  res.once('close', done)
  return true
}

/** At most `max` requests with large (or unsized) bodies at once; more get 429. */
export function largeBodyCap (max: number): MiddlewareHandler {
  let inFlight = 0
  return async (c, next) => {
    if (c.req.method !== 'POST') { await next(); return }
    const length = Number(c.req.header('Content-Length') ?? NaN)
    if (Number.isFinite(length) && length <= LARGE_BODY_BYTES) { await next(); return }
    if (inFlight >= max) throw new OverloadedError(`server busy: ${inFlight} requests with large bodies in flight, the most it takes at once`, 2)
    inFlight++
    let released = false
    const release = (): void => { if (!released) { released = true; inFlight-- } }
    const tracked = onFinished(c, release)
    try {
      await next()
    } finally {
      if (!tracked) release()
    }
  }
}

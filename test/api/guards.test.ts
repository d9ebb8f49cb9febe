/** What keeps web pages and floods off the API: Host allowlist, CORS, JSON-only bodies, large-body cap, huge prompts, /health. */
import assert from 'node:assert/strict'
import { request as httpRequest } from 'node:http'
import { after, before, describe, test } from 'node:test'
import { setTimeout as sleep } from 'node:timers/promises'
import { deferredEngine, serveApi } from '../../src/api/index.ts'
import type { Model } from '../../src/model/index.ts'
import { MODEL_NAME, type TestServer, loadModel, startServer } from './helpers.ts'

let model: Model
let srv: TestServer

before(async () => {
  model = await loadModel()
  srv = await startServer(model)
})
after(async () => {
  await srv.close()
  await model.close()
})

interface Raw { status: number, headers: Record<string, string | string[] | undefined>, body: string }

/** An HTTP request with exactly these headers (fetch will not send a Host of our choosing). */
async function raw (url: string, method: string, path: string, headers: Record<string, string>, body?: string): Promise<Raw> {
  const u = new URL(url)
  return await new Promise((resolve, reject) => {
    const req = httpRequest({ host: u.hostname, port: u.port, method, path, headers }, res => {
      let text = ''
      res.setEncoding('utf8')
      res.on('data', d => { text += d })
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: text }))
    })
    req.on('error', reject)
    req.end(body)
  })
}

const chatBody = JSON.stringify({ model: MODEL_NAME, messages: [{ role: 'user', content: 'hi' }], max_tokens: 2 })

describe('Host allowlist (no API key)', () => {
  test('other host names are refused (a DNS-rebinding page); IPs, localhost names and listed hosts are answered', async () => {
    const get = async (host: string, url = srv.url): Promise<number> => (await raw(url, 'GET', '/v1/models', { Host: host })).status
    assert.equal(await get('evil.example:8080'), 403)
    assert.equal(await get('localhost.evil.example'), 403)
    for (const host of ['localhost:8080', '127.0.0.1', '[::1]:80', 'app.localhost', '192.168.1.10:8080']) assert.equal(await get(host), 200, host)
    const refused = await raw(srv.url, 'POST', '/api/chat', { Host: 'evil.example', 'Content-Type': 'application/json' }, '{}')
    assert.equal(refused.status, 403)
    assert.match((JSON.parse(refused.body) as { error: string }).error, /does not answer for host "evil.example"/)
    const listed = await serveApi({ engine: srv.engine, port: 0, allowedHosts: ['my.host'] })
    assert.equal(await get('my.host:1', listed.url), 200)
    await listed.close()
    const keyed = await serveApi({ engine: srv.engine, port: 0, apiKey: 'k' })
    assert.equal((await raw(keyed.url, 'GET', '/v1/models', { Host: 'evil.example', Authorization: 'Bearer k' })).status, 200, 'a key is what a page cannot send')
    await keyed.close()
  })
})

describe('CORS', () => {
  test('localhost origins by default; preflights answered before the API key; others get no CORS headers', async () => {
    const keyed = await serveApi({ engine: srv.engine, port: 0, apiKey: 'k' })
    const preflight = await fetch(`${keyed.url}/v1/chat/completions`, {
      method: 'OPTIONS', headers: { Origin: 'http://localhost:5173', 'Access-Control-Request-Method': 'POST', 'Access-Control-Request-Headers': 'authorization,content-type' }
    })
    assert.equal(preflight.status, 204)
    assert.equal(preflight.headers.get('access-control-allow-origin'), 'http://localhost:5173')
    assert.match(preflight.headers.get('access-control-allow-headers') ?? '', /Authorization/i)
    const evil = await fetch(`${keyed.url}/v1/models`, { headers: { Origin: 'https://evil.example', Authorization: 'Bearer k' } })
    assert.equal(evil.headers.get('access-control-allow-origin'), null)
    await keyed.close()
    const open = await serveApi({ engine: srv.engine, port: 0, cors: ['https://app.example'] })
    const allowed = await fetch(`${open.url}/v1/models`, { headers: { Origin: 'https://app.example' } })
    assert.equal(allowed.headers.get('access-control-allow-origin'), 'https://app.example')
    assert.equal((await fetch(`${open.url}/v1/models`, { headers: { Origin: 'http://localhost:3000' } })).headers.get('access-control-allow-origin'), null)
    await open.close()
  })
})

describe('request bodies', () => {
  test('only application/json is parsed: text/plain and form posts (no preflight needed) are refused with 415', async () => {
    for (const type of ['text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x']) {
      const res = await fetch(`${srv.url}/v1/chat/completions`, { method: 'POST', headers: { 'Content-Type': type }, body: chatBody })
      assert.equal(res.status, 415, type)
    }
    const ollama = await fetch(`${srv.url}/api/generate`, { method: 'POST', headers: { 'Content-Type': 'text/plain' }, body: JSON.stringify({ model: MODEL_NAME, prompt: 'x' }) })
    assert.equal(ollama.status, 415)
    assert.match((await ollama.json() as { error: string }).error, /application\/json/)
    const ok = await fetch(`${srv.url}/v1/chat/completions`, { method: 'POST', headers: { 'Content-Type': 'application/json; charset=utf-8' }, body: chatBody })
    assert.equal(ok.status, 200)
  })

  test('large bodies: at most 4 in flight; the next gets 429 while small requests go on', async () => {
    const u = new URL(srv.url)
    const size = 1 << 20
    // four uploads that send half their body and wait
    const slow = Array.from({ length: 4 }, () => {
      const req = httpRequest({ host: u.hostname, port: u.port, method: 'POST', path: '/v1/chat/completions', headers: { 'Content-Type': 'application/json', 'Content-Length': size } })
      const done = new Promise<number>(resolve => req.on('response', res => { res.resume(); res.on('end', () => resolve(res.statusCode!)) }))
      req.on('error', () => {})
      req.write(' '.repeat(size / 2))
      return { req, done }
    })
    await sleep(200)
    const fifth = await raw(srv.url, 'POST', '/v1/chat/completions', { 'Content-Type': 'application/json', 'Content-Length': String(size) }, ' '.repeat(size))
    assert.equal(fifth.status, 429)
    assert.ok(fifth.headers['retry-after'] !== undefined)
    const small = await fetch(`${srv.url}/v1/chat/completions`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: chatBody })
    assert.equal(small.status, 200)
    for (const s of slow) s.req.end(' '.repeat(size / 2))
    assert.deepEqual(await Promise.all(slow.map(async s => await s.done)), [400, 400, 400, 400]) // all spaces: not JSON
    const after = await raw(srv.url, 'POST', '/v1/chat/completions', { 'Content-Type': 'application/json', 'Content-Length': String(size) }, ' '.repeat(size))
    assert.equal(after.status, 400, 'the slots are free again')
  })

  test('3 MB prompts are refused by length before tokenizing; /health polled every 50 ms never waits 200 ms', async () => {
    const prompt = 'Once upon a time there was a cat. '.repeat(3 * 1024 * 1024 / 34)
    let polling = true
    const waits: number[] = []
    const poller = (async () => {
      while (polling) {
        const t0 = performance.now()
        const res = await fetch(`${srv.url}/health`)
        assert.deepEqual(await res.json(), { status: 'ok' })
        waits.push(performance.now() - t0)
        await sleep(50)
      }
    })()
    const t0 = performance.now()
    const answers = await Promise.all(Array.from({ length: 4 }, async (_, i) => await fetch(`${srv.url}/v1/completions`, {
      method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ model: MODEL_NAME, prompt: prompt + String(i), max_tokens: 1 })
    })))
    const seconds = (performance.now() - t0) / 1000
    await sleep(150)
    polling = false
    await poller
    for (const res of answers) {
      assert.equal(res.status, 400)
      assert.equal((await res.json() as { error: { code: string } }).error.code, 'context_length_exceeded')
    }
    assert.ok(seconds < 2, `answered in ${seconds.toFixed(2)} s`)
    assert.ok(waits.length >= 3, `${waits.length} polls`)
    assert.ok(Math.max(...waits) < 200, `longest /health wait ${Math.max(...waits).toFixed(0)} ms`)
  })
})

describe('/health', () => {
  test('ok when serving; 503 with the reason while the model loads, then ok; routes say not ready meanwhile', async () => {
    assert.deepEqual(await (await fetch(`${srv.url}/health`)).json(), { status: 'ok' })
    const pending = deferredEngine()
    const api = await serveApi({ engine: pending.engine, port: 0 })
    const loading = await fetch(`${api.url}/health`)
    assert.equal(loading.status, 503)
    assert.deepEqual(await loading.json(), { status: 'unavailable', reason: 'loading the model' })
    const early = await fetch(`${api.url}/api/chat`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ model: MODEL_NAME, messages: [] }) })
    assert.equal(early.status, 503)
    assert.match((await early.json() as { error: string }).error, /loading the model/)
    pending.ready(srv.engine)
    assert.equal((await fetch(`${api.url}/health`)).status, 200)
    await api.close()
    const sick = await startServer(model, { wrap: m => ({ ...m, health: () => ({ ok: false, reason: 'no server for blocks 3:5' }) }) })
    const res = await fetch(`${sick.url}/health`)
    assert.equal(res.status, 503)
    assert.deepEqual(await res.json(), { status: 'unavailable', reason: `${MODEL_NAME}: no server for blocks 3:5` })
    await sick.close()
  })
})

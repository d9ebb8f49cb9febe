/** Disconnects cancel generations and free their sessions; overload is answered with 429, never a crash. */
import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import type { GenerationLike } from '../../src/api/index.ts'
import type { Model } from '../../src/model/index.ts'
import { MODEL_NAME, REFERENCE_200, eventually, loadModel, metric, slowed, startServer } from './helpers.ts'

let model: Model

before(async () => { model = await loadModel() })
after(async () => { await model.close() })

const completion = (maxTokens: number, stream = false): RequestInit => ({
  method: 'POST',
  headers: { 'Content-Type': 'application/json' },
  body: JSON.stringify({ model: MODEL_NAME, prompt: '', temperature: 0, max_tokens: maxTokens, stream })
})

describe('client disconnect', () => {
  for (const route of ['/v1/completions', '/api/generate'] as const) {
    test(`${route}: aborting mid-stream stops the generation and closes its sessions`, async () => {
      const generations: GenerationLike[] = []
      const srv = await startServer(model, { wrap: slowed(20, generations) })
      try {
        const controller = new AbortController()
        const body = route === '/v1/completions'
          ? completion(200, true)
          : { ...completion(0), body: JSON.stringify({ model: MODEL_NAME, prompt: 'Once upon a time', raw: true, options: { temperature: 0, num_predict: 200 } }) }
        const res = await fetch(`${srv.url}${route}`, { ...body, signal: controller.signal })
        assert.equal(res.status, 200)
        const reader = res.body!.getReader()
        let received = 0
        while (received < 5) { // a few pieces: the generation is running
          const { value, done } = await reader.read()
          assert.ok(done !== true, 'the stream ended early')
          received += new TextDecoder().decode(value).split('\n').filter(l => l.trim() !== '').length
        }
        assert.equal(await metric(srv.url, 'gridllm_sessions_open'), 1)
        assert.equal(await metric(srv.url, 'gridllm_requests_running'), 1)
        controller.abort()
        assert.equal(await eventually(async () => await metric(srv.url, 'gridllm_sessions_open'), n => n === 0), 0)
        assert.equal(await eventually(async () => await metric(srv.url, 'gridllm_requests_running'), n => n === 0), 0)
        const g = generations[0]!
        assert.equal(g.finishReason, undefined, 'the generation was cut, not finished')
        assert.ok(g.completionTokens < 50, `it stopped early (${g.completionTokens} tokens)`)
        // the server still serves
        const ok = await (await fetch(`${srv.url}/v1/completions`, completion(5))).json() as { choices: Array<{ text: string }> }
        assert.ok(REFERENCE_200.startsWith(ok.choices[0]!.text))
      } finally {
        await srv.close()
      }
    })
  }

  test('a queued request whose client leaves gives up its place', async () => {
    const srv = await startServer(model, { wrap: slowed(10), maxConcurrency: 1, maxQueue: 1 })
    try {
      const running = fetch(`${srv.url}/v1/completions`, completion(20))
      await eventually(async () => await metric(srv.url, 'gridllm_requests_running'), n => n === 1)
      const controller = new AbortController()
      const queued = fetch(`${srv.url}/v1/completions`, { ...completion(20), signal: controller.signal })
      assert.equal(await eventually(async () => await metric(srv.url, 'gridllm_queue_length'), n => n === 1), 1)
      controller.abort()
      await assert.rejects(queued)
      assert.equal(await eventually(async () => await metric(srv.url, 'gridllm_queue_length'), n => n === 0), 0)
      // the place is free again: a new request queues instead of being refused
      const next = fetch(`${srv.url}/v1/completions`, completion(3))
      assert.equal((await running).status, 200)
      assert.equal((await next).status, 200)
    } finally {
      await srv.close()
    }
  })
})

describe('overload', () => {
  test('more requests than slots + queue: the rest get 429 with Retry-After; all others complete', async () => {
    const srv = await startServer(model, { wrap: slowed(20), maxConcurrency: 1, maxQueue: 2 })
    try {
      const responses = await Promise.all(Array.from({ length: 8 }, async () => await fetch(`${srv.url}/v1/completions`, completion(10))))
      const ok = responses.filter(r => r.status === 200)
      const refused = responses.filter(r => r.status === 429)
      assert.equal(ok.length + refused.length, responses.length, `statuses: ${responses.map(r => r.status).join(' ')}`)
      assert.ok(ok.length >= 3, `1 running + 2 queued must complete, got ${ok.length}`)
      assert.ok(refused.length >= 1, 'some requests are refused')
      const want = (await (await fetch(`${srv.url}/v1/completions`, completion(10))).json() as { choices: Array<{ text: string }> }).choices[0]!.text
      for (const r of ok) assert.equal((await r.json() as { choices: Array<{ text: string }> }).choices[0]!.text, want)
      for (const r of refused) {
        assert.ok(Number(r.headers.get('retry-after')) >= 1)
        const body = await r.json() as { error: { type: string, code: string } }
        assert.equal(body.error.type, 'rate_limit_error')
        assert.equal(body.error.code, 'overloaded')
      }
      const text = await (await fetch(`${srv.url}/metrics`)).text()
      assert.match(text, new RegExp(`gridllm_requests_total\\{route="/v1/completions",status="429"\\} ${refused.length}\\n`))
      assert.equal(await metric(srv.url, 'gridllm_queue_length'), 0)
      assert.equal(await metric(srv.url, 'gridllm_sessions_open'), 0)
    } finally {
      await srv.close()
    }
  })

  test('streaming requests are refused before the stream starts', async () => {
    const srv = await startServer(model, { wrap: slowed(10), maxConcurrency: 1, maxQueue: 0 })
    try {
      const first = await fetch(`${srv.url}/v1/completions`, completion(20, true))
      const second = await fetch(`${srv.url}/v1/completions`, completion(20, true))
      assert.equal(second.status, 429)
      assert.equal((await second.json() as { error: { code: string } }).error.code, 'overloaded')
      assert.match(await first.text(), /data: \[DONE\]/)
    } finally {
      await srv.close()
    }
  })
})

describe('shutdown', () => {
  test('closing the server ends streams in flight with an error event and frees their sessions', async () => {
    const srv = await startServer(model, { wrap: slowed(20) })
    const res = await fetch(`${srv.url}/v1/completions`, completion(200, true))
    const reader = res.body!.getReader()
    await reader.read()
    const t0 = performance.now()
    await srv.close()
    assert.ok(performance.now() - t0 < 1000, 'closing waits for the stream to end, not for the grace period')
    const stats = srv.engine.stats!()
    assert.equal(stats.openSessions, 0)
    let tail = ''
    for (;;) {
      const { value, done } = await reader.read().catch(() => ({ value: undefined, done: true }))
      if (done === true) break
      tail += new TextDecoder().decode(value)
    }
    assert.ok(!tail.includes('[DONE]'), 'the stream was cut, not completed')
    assert.match(tail, /"error":\{"message":"the server is shutting down","type":"server_error"/)
  })
})

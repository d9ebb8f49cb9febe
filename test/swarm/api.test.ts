/**
 * `serve --api`: a server that also runs the HTTP API, generating through the swarm (here a span on
 * itself and one on a second server). Greedy answers equal the single-process run.
 */
import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { Model } from '../../src/model/index.ts'
import { STORIES, type ServerProcess, startServer, stopServers } from './harness.ts'

async function apiUrl (server: ServerProcess, timeoutMs = 60_000): Promise<string> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const m = /API at (http:\/\/\S+)/.exec(server.log())
    if (m !== null) return m[1]!
    if (server.proc.exitCode !== null) throw new Error(`server exited:\n${server.log()}`)
    if (Date.now() > deadline) throw new Error(`no API line:\n${server.log()}`)
    await new Promise(resolve => setTimeout(resolve, 100))
  }
}

describe('serve --api', () => {
  const servers: ServerProcess[] = []
  let url: string

  before(async () => {
    servers.push(await startServer(STORIES, ['--blocks', '0:3', '--api', '0']))
    servers.push(await startServer(STORIES, ['--blocks', '3:5'], { bootstrap: servers }))
    url = await apiUrl(servers[0]!)
  })

  after(async () => { await stopServers(servers) })

  test('a greedy completion through the swarm equals the local run, and metrics count the hops', async () => {
    const local = await Model.load(STORIES)
    let expected = ''
    try {
      for await (const t of local.generate('Once upon a time', { temperature: 0, maxTokens: 30 })) expected += t.text
    } finally {
      await local.close()
    }
    const res = await fetch(`${url}/v1/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'stories260K', prompt: 'Once upon a time', max_tokens: 30, temperature: 0 })
    })
    assert.equal(res.status, 200)
    const body = await res.json() as { choices: Array<{ text: string }>, usage: { completion_tokens: number } }
    assert.equal(body.choices[0]!.text, expected)
    assert.equal(body.usage.completion_tokens, 30)
    const metrics = await (await fetch(`${url}/metrics`)).text()
    const hops = /^gridllm_hop_latency_seconds_count (\d+)$/m.exec(metrics)
    assert.ok(hops !== null && Number(hops[1]) > 0, metrics)
    // credits are on by default: the server's own account, its price, and what its API paid
    assert.match(metrics, /^gridllm_credits_price 0\.00001$/m)
    const paid = /^gridllm_credits_settlements_total\{role="payer"\} (\d+)$/m.exec(metrics)
    assert.ok(paid !== null && /^gridllm_credits_balance -?[\d.e-]+$/m.test(metrics), metrics)
    // every block has a server: healthy
    assert.deepEqual(await (await fetch(`${url}/health`)).json(), { status: 'ok' })
  })

  test('it serves the web page, whose tabs join through the server itself', async () => {
    assert.match(servers[0]!.log(), /web page \(dashboard, chat, donate this tab\) at http:\/\//)
    const page = await fetch(`${url}/`)
    assert.equal(page.headers.get('cross-origin-opener-policy'), 'same-origin')
    assert.match(await page.text(), /<main>/)
    const { bootstrap } = await (await fetch(`${url}/config.json`)).json() as { bootstrap: string[] }
    assert.ok(bootstrap.length > 0 && bootstrap.every(a => a.includes('/ws/') && a.endsWith(`/p2p/${servers[0]!.peer}`)), JSON.stringify(bootstrap))
    assert.equal((await fetch(`${url}/app.js`)).headers.get('content-type'), 'text/javascript; charset=utf-8')
    assert.equal((await fetch(`${url}/v1/models`)).status, 200) // the API's routes are untouched
  })
})

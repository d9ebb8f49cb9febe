/**
 * /metrics exports the node's account: a paid completion through the API moves the client's balance,
 * spent and settlements by exactly what it paid, and the server's earned by exactly what it was paid
 * (the series `serve --api` shows, there from the server's own ledger), which the server also
 * reports in its record for the dashboard.
 */
import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { type ApiServer, serveApi } from '../../src/api/index.ts'
import type { Model } from '../../src/model/index.ts'
import { decodeRecord, encodeRecord } from '../../src/swarm/index.ts'
import { MODEL_NAME, type TestServer, eventually, metric, startServer } from '../api/helpers.ts'
import { type Books, type PaidServer, paidServer, payingClient, tokensThrough } from './swarm.ts'

const PRICES = [3, 5] as const

describe('credits in /metrics over a paying swarm', () => {
  const servers: PaidServer[] = []
  let client: { model: Model, books: Books }
  let api: TestServer
  let serverApi: ApiServer

  before(async () => {
    servers.push(await paidServer([0, 3], PRICES[0]))
    const boot = servers[0]!.server.addresses
    servers.push(await paidServer([3, 5], PRICES[1], boot))
    client = await payingClient(boot, 2)
    api = await startServer(client.model, { credits: () => client.books.ledger.summary() })
    const a = servers[0]!
    serverApi = await serveApi({ engine: { models: () => [] }, port: 0, credits: () => ({ ...a.books.ledger.summary(), price: a.price }) })
  })

  after(async () => {
    await serverApi?.close()
    await api?.close()
    await client?.model.close()
    await Promise.all(servers.map(async s => { await s.server.stop() }))
  })

  test('a paid completion moves balance, spent, settlements and the server\'s earned by what was paid', async () => {
    const read = async (url: string): Promise<Record<string, number>> => ({
      balance: await metric(url, 'gridllm_credits_balance'),
      earned: await metric(url, 'gridllm_credits_earned_total'),
      spent: await metric(url, 'gridllm_credits_spent_total'),
      paid: await metric(url, 'gridllm_credits_settlements_total{role="payer"}'),
      payee: await metric(url, 'gridllm_credits_settlements_total{role="payee"}'),
      pending: await metric(url, 'gridllm_credits_settlements_pending')
    })
    const c0 = await read(api.url)
    const s0 = await read(serverApi.url)
    assert.deepEqual([c0.spent, c0.paid, c0.earned], [0, 0, 0])
    assert.deepEqual([s0.earned, s0.payee], [0, 0])
    assert.equal(await metric(serverApi.url, 'gridllm_credits_price'), PRICES[0] / 1e6)

    const res = await fetch(`${api.url}/v1/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: MODEL_NAME, prompt: 'Once upon a time', max_tokens: 8, temperature: 0 })
    })
    assert.equal(res.status, 200)
    const body = await res.json() as { choices: Array<{ finish_reason: string }>, usage: { prompt_tokens: number, completion_tokens: number } }
    const tokens = tokensThrough({ promptTokens: body.usage.prompt_tokens, completionTokens: body.usage.completion_tokens, finishReason: body.choices[0]!.finish_reason }, body.choices[0]!.finish_reason === 'stop')
    const perToken = 3 * PRICES[0] + 2 * PRICES[1] // µcr: blocks × price over both servers
    const cost = tokens * perToken / 1e6

    // settlement follows the session's close: wait for the agreements
    const c1 = await eventually(async () => await read(api.url), m => m.paid >= 2 && m.pending === 0, 10_000)
    assert.ok(Math.abs(c1.spent - cost) < 1e-9, `spent ${c1.spent}, expected ${cost}`)
    assert.ok(Math.abs(c0.balance - c1.balance - cost) < 1e-9, 'the balance fell by what was spent')
    assert.equal(c1.paid, 2, 'one settlement per server')
    assert.equal(c1.earned, 0)
    assert.equal(c1.payee, 0)

    const s1 = await read(serverApi.url)
    const earned = tokens * 3 * PRICES[0] / 1e6
    assert.ok(Math.abs(s1.earned - earned) < 1e-9, `earned ${s1.earned}, expected ${earned}`)
    assert.ok(Math.abs(s1.balance - s0.balance - earned) < 1e-9)
    assert.equal(s1.payee, 1)
    assert.equal(s1.spent, 0)

    // and the server reports it in its record (what the dashboard shows), which readers accept
    const record = decodeRecord(encodeRecord(servers[0]!.server.record()))
    assert.equal(record.earned, tokens * 3 * PRICES[0])
    assert.equal(decodeRecord(encodeRecord(servers[1]!.server.record())).earned, tokens * 2 * PRICES[1])
  })
})

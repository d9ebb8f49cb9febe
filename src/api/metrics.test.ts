import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { createApi } from './server.ts'
import { type CreditStats, Metrics } from './metrics.ts'
import { Limiter } from './limiter.ts'

const ACCOUNT: CreditStats = { balance: -250_000, earned: 3_000_000, spent: 3_250_000, minted: 0, payeeSettlements: 4, payerSettlements: 7, pending: 1, price: 10 }

/** sample lines of `name` (with its labels), as "name{labels} value" → value */
function samples (text: string, name: string): Map<string, number> {
  const out = new Map<string, number>()
  for (const line of text.split('\n')) {
    if (line.startsWith(`${name} `) || line.startsWith(`${name}{`)) {
      const at = line.lastIndexOf(' ')
      out.set(line.slice(0, at), Number(line.slice(at + 1)))
    }
  }
  return out
}

describe('credits in /metrics', () => {
  const limiter = new Limiter({ maxConcurrency: 1, maxQueue: 1 })

  test('the account is exported in credits, each series with HELP and TYPE', () => {
    const text = new Metrics().render(limiter, undefined, ACCOUNT)
    assert.equal(samples(text, 'gridllm_credits_balance').get('gridllm_credits_balance'), -0.25)
    assert.equal(samples(text, 'gridllm_credits_earned_total').get('gridllm_credits_earned_total'), 3)
    assert.equal(samples(text, 'gridllm_credits_spent_total').get('gridllm_credits_spent_total'), 3.25)
    assert.equal(samples(text, 'gridllm_credits_minted_total').get('gridllm_credits_minted_total'), 0)
    const settlements = samples(text, 'gridllm_credits_settlements_total')
    assert.equal(settlements.get('gridllm_credits_settlements_total{role="payee"}'), 4)
    assert.equal(settlements.get('gridllm_credits_settlements_total{role="payer"}'), 7)
    assert.equal(samples(text, 'gridllm_credits_settlements_pending').get('gridllm_credits_settlements_pending'), 1)
    assert.equal(samples(text, 'gridllm_credits_price').get('gridllm_credits_price'), 0.00001)
    for (const name of ['balance', 'earned_total', 'spent_total', 'minted_total', 'settlements_total', 'settlements_pending', 'price']) {
      assert.match(text, new RegExp(`^# HELP gridllm_credits_${name} \\S`, 'm'))
      assert.match(text, new RegExp(`^# TYPE gridllm_credits_${name} (gauge|counter)$`, 'm'))
    }
  })

  test('no account (credits off), no credit series; a client has no price', () => {
    assert.doesNotMatch(new Metrics().render(limiter, undefined), /gridllm_credits/)
    const { price: _, ...client } = ACCOUNT
    const text = new Metrics().render(limiter, undefined, client)
    assert.match(text, /^gridllm_credits_balance -0.25$/m)
    assert.doesNotMatch(text, /gridllm_credits_price/)
  })

  test('an account that cannot be read leaves its series out; the scrape still answers', async () => {
    let fail = false
    const api = createApi({
      engine: { models: () => [] },
      credits: () => { if (fail) throw new TypeError('The database connection is not open'); return ACCOUNT }
    })
    const scrape = async (): Promise<Response> => await api.app.request('/metrics', { headers: { Host: 'localhost' } })
    const ok = await scrape()
    assert.equal(ok.status, 200)
    assert.match(await ok.text(), /^gridllm_credits_earned_total 3$/m)
    fail = true
    const broken = await scrape()
    assert.equal(broken.status, 200)
    const text = await broken.text()
    assert.doesNotMatch(text, /gridllm_credits/)
    assert.match(text, /^gridllm_tokens_generated_total 0$/m)
  })
})

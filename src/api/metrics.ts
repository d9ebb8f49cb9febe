/**
 * Counters for GET /metrics, rendered in the Prometheus text exposition format (version 0.0.4).
 * A handful of series do not need a client library: counters here, gauges read at scrape time
 * from the limiter and the engine.
 */
import { type LedgerSummary, credits } from '../ledger/index.ts'
import type { EngineStats } from './engine.ts'
import type { Limiter } from './limiter.ts'

const RATE_WINDOW_SECONDS = 10

export const METRICS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8'

/**
 * The node's credit account as /metrics exports it (amounts in µcr): a client's, or, under
 * `serve --api`, the server's own (what its spans earned and what its API spent), with its price.
 */
export type CreditStats = Pick<LedgerSummary, 'balance' | 'earned' | 'spent' | 'minted' | 'payeeSettlements' | 'payerSettlements' | 'pending'> & {
  /** a server's price, µcr per block-token */
  readonly price?: number
}

export class Metrics {
  tokensGenerated = 0
  promptTokens = 0
  private readonly requests = new Map<string, number>() // `${route} ${status}` → count
  private readonly perSecond = new Map<number, number>() // unix second → tokens generated in it

  countRequest (route: string, status: number): void {
    const key = `${route} ${status}`
    this.requests.set(key, (this.requests.get(key) ?? 0) + 1)
  }

  countToken (now = Date.now()): void {
    this.tokensGenerated++
    const second = Math.floor(now / 1000)
    this.perSecond.set(second, (this.perSecond.get(second) ?? 0) + 1)
    if (this.perSecond.size > RATE_WINDOW_SECONDS + 1) {
      for (const s of this.perSecond.keys()) if (s <= second - RATE_WINDOW_SECONDS) this.perSecond.delete(s)
    }
  }

  /** Tokens per second over the last RATE_WINDOW_SECONDS complete seconds. */
  tokensPerSecond (now = Date.now()): number {
    const current = Math.floor(now / 1000)
    let sum = 0
    for (const [s, n] of this.perSecond) if (s < current && s >= current - RATE_WINDOW_SECONDS) sum += n
    return sum / RATE_WINDOW_SECONDS
  }

  render (limiter: Limiter, stats: EngineStats | undefined, account?: CreditStats): string {
    const out: string[] = []
    const series = (name: string, type: 'counter' | 'gauge' | 'summary', help: string, samples: Array<[tail: string, value: number]>): void => {
      out.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`)
      for (const [tail, value] of samples) out.push(`${name}${tail} ${value}`) // tail: labels or a summary suffix
    }
    series('gridllm_tokens_generated_total', 'counter', 'Tokens generated since the server started.', [['', this.tokensGenerated]])
    series('gridllm_prompt_tokens_total', 'counter', 'Prompt tokens processed since the server started.', [['', this.promptTokens]])
    series('gridllm_tokens_per_second', 'gauge', `Tokens generated per second over the last ${RATE_WINDOW_SECONDS} seconds.`, [['', this.tokensPerSecond()]])
    series('gridllm_requests_total', 'counter', 'HTTP requests answered, by route and status.',
      [...this.requests].map(([key, n]) => {
        const [route, status] = key.split(' ')
        return [`{route="${route}",status="${status}"}`, n]
      }))
    series('gridllm_requests_running', 'gauge', 'Generations running now.', [['', limiter.active]])
    series('gridllm_queue_length', 'gauge', 'Requests waiting for a generation slot.', [['', limiter.queued]])
    series('gridllm_queue_capacity', 'gauge', 'The most requests that may wait; more are refused with 429.', [['', limiter.maxQueue]])
    series('gridllm_max_concurrency', 'gauge', 'The most generations that run at once.', [['', limiter.maxConcurrency]])
    if (stats !== undefined) {
      series('gridllm_sessions_open', 'gauge', 'Sessions holding KV cache, over all spans.', [['', stats.openSessions]])
      if (stats.hopLatency !== undefined) {
        series('gridllm_hop_latency_seconds', 'summary', 'Time per hop between spans.',
          [['_sum', stats.hopLatency.sumSeconds], ['_count', stats.hopLatency.count]])
      }
      if (stats.routes !== undefined) {
        series('gridllm_routes_total', 'counter', 'Routes sessions took through the swarm: open (first route), failover (a hop replaced), relay (pushing failed, relayed from then on).',
          Object.entries(stats.routes).map(([reason, n]) => [`{reason="${reason}"}`, n]))
      }
      if (stats.verification !== undefined) {
        series('gridllm_audits_total', 'counter', 'Audits of swarm servers\' work, by result (pass, fail, bad-receipt, inconclusive, skipped).',
          Object.entries(stats.verification.audits).map(([result, n]) => [`{result="${result}"}`, n]))
        series('gridllm_convictions_total', 'counter', 'Servers convicted by a fraud proof checked here.', [['', stats.verification.convictions]])
      }
    }
    if (account !== undefined) {
      series('gridllm_credits_balance', 'gauge', 'This node\'s credit balance, in credits (negative: in debt).', [['', credits(account.balance)]])
      series('gridllm_credits_earned_total', 'counter', 'Credits this account was paid for work its servers did, over its whole ledger.', [['', credits(account.earned)]])
      series('gridllm_credits_spent_total', 'counter', 'Credits this account paid servers, over its whole ledger.', [['', credits(account.spent)]])
      series('gridllm_credits_minted_total', 'counter', 'New credits of this account: its first block\'s grant and mints for audited work.', [['', credits(account.minted)]])
      series('gridllm_credits_settlements_total', 'counter', 'Settlements in this account\'s ledger, by role: payee (it was paid), payer (it paid).',
        [['{role="payee"}', account.payeeSettlements], ['{role="payer"}', account.payerSettlements]])
      series('gridllm_credits_settlements_pending', 'gauge', 'Settlements this account paid whose payee has not agreed yet.', [['', account.pending]])
      if (account.price !== undefined) series('gridllm_credits_price', 'gauge', 'This server\'s price, in credits per block-token.', [['', credits(account.price)]])
    }
    return out.join('\n') + '\n'
  }
}

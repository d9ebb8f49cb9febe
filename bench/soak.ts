/**
 * Soak: one long-lived `serve --api` client and three servers (stories260K over 0:2, 2:4, 4:5), then
 * many short generations in a row through the HTTP API. Every one must succeed with the greedy text
 * of the first, in push mode throughout; the p99 latency of the last 1,000 must stay within 1.2x of
 * the first 1,000, and every server's RSS flat (the last sample within 10% of the one after the
 * warm-up). Prints one JSON line.
 *
 *   node --import ./bin/polyfill.mjs --import tsx bench/soak.ts [generations = 20000] [tokens = 8]
 */
import { type ServerProcess, STORIES, killGroup, rssMiB, startServer, startServers, stopServers } from '../test/swarm/harness.ts'

const total = Number(process.argv[2] ?? 20_000)
const tokens = Number(process.argv[3] ?? 8)
const WINDOW = Math.min(1000, Math.floor(total / 4))

const servers: ServerProcess[] = []
const cleanup = (): void => { for (const s of servers) killGroup(s, 'SIGKILL') }
process.on('exit', cleanup)
for (const sig of ['SIGINT', 'SIGTERM'] as const) process.on(sig, () => { cleanup(); process.exit(130) })

const p99 = (xs: number[]): number => { const s = [...xs].sort((a, b) => a - b); return s[Math.min(s.length - 1, Math.floor(0.99 * s.length))]! }
const metric = (text: string, series: string): number => Number(text.split('\n').find(l => l.startsWith(`${series} `))?.split(' ')[1] ?? 0)

try {
  const front = await startServer(STORIES, ['--blocks', '0:2', '--api', '0'], { detached: true })
  servers.push(front)
  await startServers(servers, STORIES, [['--blocks', '2:4'], ['--blocks', '4:5']], { bootstrap: [front], detached: true })
  const url = /API at (http:\/\/\S+) /.exec(front.log())?.[1]
  if (url === undefined) throw new Error(`no API address in:\n${front.log()}`)
  const body = JSON.stringify({ model: 'stories260K', prompt: 'Once upon a time', max_tokens: tokens, temperature: 0 })
  const latencies: number[] = []
  const rss: number[][] = [] // per sample, per server (MiB)
  let expected: string | undefined
  let failures = 0
  let firstFailure = ''
  const t0 = performance.now()
  for (let i = 0; i < total; i++) {
    const start = performance.now()
    try {
      const res = await fetch(`${url}/v1/completions`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body })
      const json = await res.json() as { choices?: Array<{ text: string }>, error?: { message: string } }
      const text = json.choices?.[0]?.text
      if (!res.ok || text === undefined) throw new Error(`${res.status} ${json.error?.message ?? ''}`)
      expected ??= text
      if (text !== expected) throw new Error(`generation ${i} gave ${JSON.stringify(text)}, not ${JSON.stringify(expected)}`)
    } catch (err) {
      failures++
      firstFailure ||= `${i}: ${(err as Error).message}`
    }
    latencies.push(performance.now() - start)
    if (i + 1 === WINDOW || (i + 1) % 1000 === 0 || i + 1 === total) {
      rss.push(servers.map(s => rssMiB(s.proc.pid!)))
      process.stderr.write(`${i + 1}/${total}: p99 ${p99(latencies.slice(-WINDOW)).toFixed(1)} ms, rss ${rss.at(-1)!.map(r => r.toFixed(0)).join('/')} MiB, ${failures} failed\n`)
    }
  }
  const metrics = await (await fetch(`${url}/metrics`)).text()
  const warm = rss[0]!
  const last = rss.at(-1)!
  const first1k = p99(latencies.slice(0, WINDOW))
  const last1k = p99(latencies.slice(-WINDOW))
  const relays = metric(metrics, 'gridllm_routes_total{reason="relay"}')
  const failovers = metric(metrics, 'gridllm_routes_total{reason="failover"}')
  const rssGrowth = last.map((r, k) => r / warm[k]!)
  console.log(JSON.stringify({
    bench: 'soak',
    model: 'stories260K',
    generations: total,
    tokens_each: tokens,
    failed: failures,
    ...(failures > 0 ? { first_failure: firstFailure } : {}),
    seconds: +((performance.now() - t0) / 1000).toFixed(1),
    routes_open: metric(metrics, 'gridllm_routes_total{reason="open"}'),
    routes_relay: relays,
    routes_failover: failovers,
    p99_first_ms: +first1k.toFixed(2),
    p99_last_ms: +last1k.toFixed(2),
    p99_ratio: +(last1k / first1k).toFixed(3),
    rss_after_warmup_mib: warm.map(r => +r.toFixed(1)),
    rss_last_mib: last.map(r => +r.toFixed(1)),
    rss_ratio_max: +Math.max(...rssGrowth).toFixed(3),
    met: failures === 0 && relays === 0 && failovers === 0 && last1k <= 1.2 * first1k && rssGrowth.every(g => g <= 1.1)
  }))
} finally {
  await stopServers(servers)
}

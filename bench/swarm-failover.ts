/**
 * Failover: time from `kill -9` of the middle server to the next token, over 20 repetitions
 * (stories260K, two servers per span of three, a fresh server replacing each killed one).
 * Prints one JSON line. Usage: node --import ./bin/polyfill.mjs --import tsx bench/swarm-failover.ts [reps]
 */
import { type RouteEvent, type SwarmExecutor, loadSwarmModel } from '../src/swarm/index.ts'
import { STORIES, type ServerProcess, startServer, startServers, stopServers } from '../test/swarm/harness.ts'
import { median } from './measure.ts'

const reps = Number(process.argv[2] ?? 20)
const spans = ['0:2', '2:4', '4:5']
const servers: ServerProcess[] = []
const first = await startServer(STORIES, ['--blocks', spans[0]!])
servers.push(first)
await startServers(servers, STORIES, [spans[0]!, spans[1]!, spans[1]!, spans[2]!, spans[2]!].map(s => ['--blocks', s]), { bootstrap: [first] })
const routes: RouteEvent[] = []
const model = await loadSwarmModel(STORIES, { bootstrap: [first.addr], banMs: 600_000, onRoute: e => routes.push(e) })
const gaps: number[] = [] // ms from kill to the next token
const normal: number[] = [] // ms between tokens without a failure
try {
  for (let rep = 0; rep < reps; rep++) {
    let killedAt = 0
    let victim: ServerProcess | undefined
    let last = 0
    let n = 0
    for await (const _ of model.generate('Once upon a time', { temperature: 0, maxTokens: 40 })) {
      const now = performance.now()
      if (killedAt > 0) { gaps.push(now - killedAt); killedAt = -1 } else if (last > 0 && n > 2) normal.push(now - last)
      last = now
      if (++n === 20) {
        const route = routes[routes.length - 1]!
        victim = servers.find(s => s.peer === route.hops[1]!.peer)!
        killedAt = performance.now()
        victim.proc.kill('SIGKILL')
      }
    }
    process.stderr.write(`rep ${rep + 1}: ${gaps[gaps.length - 1]!.toFixed(1)} ms\n`)
    await victim!.exited
    servers.push(await startServer(STORIES, ['--blocks', spans[1]!], { bootstrap: [first] }))
    // what the client's background refresh (every 30 s) does: learn about the newcomer
    await (model.executors[0] as SwarmExecutor).client.servers(model.modelId, model.config.nLayers, { refresh: true })
  }
} finally {
  await model.close()
  await stopServers(servers)
}
const sorted = gaps.slice().sort((a, b) => a - b)
console.log(JSON.stringify({
  bench: 'swarm-failover',
  model: 'stories260K',
  reps,
  kill_to_next_token_ms: { median: +median(gaps).toFixed(1), min: +sorted[0]!.toFixed(1), max: +sorted[sorted.length - 1]!.toFixed(1), mean: +(gaps.reduce((a, b) => a + b, 0) / gaps.length).toFixed(1) },
  normal_token_ms: +median(normal).toFixed(2),
  note: 'a replacement server is known to the client before each kill (as after its periodic directory refresh)'
}))

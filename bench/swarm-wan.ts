/**
 * Emulated WAN: three servers, each behind a delay relay (25 ms one way, 100 Mbit/s per direction
 * by default), so every link (client → server, server → server, server → client) costs 25 ms. One
 * JSON line per route mode: decode tok/s against the limit 1 / (compute + sum of one-way delays on
 * the path): 4 links with push (client → s1 → s2 → s3 → client), 6 with the client relaying.
 *
 * Usage: node --import ./bin/polyfill.mjs --import tsx bench/swarm-wan.ts [stories|135m] [delayMs] [tokens] [rounds]
 */
import { join } from 'node:path'
import { Model } from '../src/model/index.ts'
import { SHAPE_135M, writeSyntheticGguf } from '../src/model/synthetic.ts'
import { loadSwarmModel } from '../src/swarm/index.ts'
import { STORIES, type ServerProcess, startServer, stopServers, tempDir } from '../test/swarm/harness.ts'
import { best, median, swarmRounds } from './measure.ts'
import { type Relay, freePort, startRelay } from './relay.ts'

const which = process.argv[2] ?? 'stories'
const delayMs = Number(process.argv[3] ?? 25)
const tokens = Number(process.argv[4] ?? (which === 'stories' ? 60 : 8))
const bytesPerSecond = 100e6 / 8
const dir = tempDir()
let path = STORIES
let spans = ['0:2', '2:4', '4:5']
if (which === '135m') {
  path = join(dir.path, 'synthetic-135m.gguf')
  writeSyntheticGguf(path, SHAPE_135M, { seed: 7 })
  spans = ['0:10', '10:20', '20:30']
}
const prompt = 'Once upon a time'

const relays: Relay[] = []
const servers: ServerProcess[] = []
const rounds = Number(process.argv[5] ?? 3)
try {
  for (const span of spans) {
    const port = await freePort()
    const relay = await startRelay({ targetPort: port, delayMs, bytesPerSecond })
    relays.push(relay)
    servers.push(await startServer(path, ['--blocks', span, '--announce', `/ip4/127.0.0.1/tcp/${relay.port}`], {
      listen: `/ip4/127.0.0.1/tcp/${port}`, bootstrap: servers.slice(0, 1), timeoutMs: 180_000
    }))
  }
  const local = await Model.load(path)
  const push = await loadSwarmModel(path, { bootstrap: [servers[0]!.addr], mode: 'push' })
  const relay = await loadSwarmModel(path, { bootstrap: [servers[0]!.addr], mode: 'relay' })
  const { runs, same } = await swarmRounds({ local, push, relay }, rounds, prompt, tokens)
  await Promise.all([local.close(), push.close(), relay.close()])
  const computeS = 1 / best(runs.local)
  for (const mode of ['push', 'relay'] as const) {
    const links = mode === 'push' ? spans.length + 1 : 2 * spans.length
    const limit = 1 / (computeS + links * delayMs / 1000)
    const tokS = best(runs[mode])
    console.log(JSON.stringify({
      bench: 'swarm-wan',
      model: which === 'stories' ? 'stories260K' : 'synthetic-135M',
      mode,
      one_way_ms: delayMs,
      mbit_s: bytesPerSecond * 8 / 1e6,
      spans: spans.length,
      links_on_path: links,
      rounds,
      compute_ms: +(computeS * 1000).toFixed(2),
      tok_s: +tokS.toFixed(3),
      limit_tok_s: +limit.toFixed(3),
      ratio: +(tokS / limit).toFixed(3),
      median_tok_s: +median(runs[mode]).toFixed(3),
      same_tokens: same[mode]
    }))
  }
} finally {
  await stopServers(servers)
  await Promise.all(relays.map(async r => { await r.close() }))
  dir.remove()
}

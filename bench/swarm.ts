/**
 * The swarm on loopback against one process: a 135M-shaped random-weight model split over three
 * server processes (10 blocks each) versus the same model in one process, decode tok/s and their
 * ratio, with whatever createBackend('auto') gives. One JSON line per route mode.
 *
 * Usage: node --import ./bin/polyfill.mjs --import tsx bench/swarm.ts [tokens] [rounds]
 */
import { join } from 'node:path'
import { createBackend } from '../src/kernels/index.ts'
import { Model } from '../src/model/index.ts'
import { SHAPE_135M, writeSyntheticGguf } from '../src/model/synthetic.ts'
import { loadSwarmModel } from '../src/swarm/index.ts'
import { type ServerProcess, startServer, startServers, stopServers, tempDir } from '../test/swarm/harness.ts'
import { best, median, swarmRounds } from './measure.ts'

const tokens = Number(process.argv[2] ?? 12)
const dir = tempDir()
const path = join(dir.path, 'synthetic-135m.gguf')
const prompt = 'the quick brown fox'

const backendName = await (async () => { const b = await createBackend('auto'); const name = b.name; b.dispose(); return name })()
const servers: ServerProcess[] = []
const rounds = Number(process.argv[3] ?? 3)
try {
  writeSyntheticGguf(path, SHAPE_135M, { seed: 7 })
  servers.push(await startServer(path, ['--blocks', '0:10'], { timeoutMs: 180_000 }))
  await startServers(servers, path, [['--blocks', '10:20'], ['--blocks', '20:30']], { bootstrap: [...servers], timeoutMs: 180_000 })
  const local = await Model.load(path)
  const push = await loadSwarmModel(path, { bootstrap: [servers[0]!.addr], mode: 'push' })
  const relay = await loadSwarmModel(path, { bootstrap: [servers[0]!.addr], mode: 'relay' })
  const { runs, same } = await swarmRounds({ local, push, relay }, rounds, prompt, tokens)
  await Promise.all([local.close(), push.close(), relay.close()])
  for (const mode of ['push', 'relay'] as const) {
    console.log(JSON.stringify({
      bench: 'swarm-loopback',
      model: 'synthetic-135M',
      backend: backendName,
      mode,
      servers: 3,
      rounds,
      tok_s: +best(runs[mode]).toFixed(3),
      local_tok_s: +best(runs.local).toFixed(3),
      ratio: +(best(runs[mode]) / best(runs.local)).toFixed(3),
      median_ratio: +(median(runs[mode]) / median(runs.local)).toFixed(3),
      same_tokens: same[mode]
    }))
  }
} finally {
  await stopServers(servers)
  dir.remove()
}

/**
 * The swarm on loopback against one process: a 135M-shaped random-weight model split over three
 * server processes (10 blocks each) versus the same model in one process, decode tok/s and their
 * ratio, with whatever createBackend('auto') gives. One JSON line per route mode.
 *
 * Usage: node --import ./bin/polyfill.mjs --import tsx bench/swarm.ts [tokens]
 */
import { join } from 'node:path'
import { createBackend } from '../src/kernels/index.ts'
import { Model } from '../src/model/index.ts'
import { SHAPE_135M, writeSyntheticGguf } from '../src/model/synthetic.ts'
import { loadSwarmModel } from '../src/swarm/index.ts'
import { type ServerProcess, startServer, stopServers, tempDir } from '../test/swarm/harness.ts'

const tokens = Number(process.argv[2] ?? 12)
const dir = tempDir()
const path = join(dir.path, 'synthetic-135m.gguf')
const prompt = 'the quick brown fox'

async function decodeRate (model: Model): Promise<{ tokS: number, ids: number[] }> {
  const ids: number[] = []
  let first = 0
  for await (const t of model.generate(prompt, { temperature: 0, maxTokens: tokens })) {
    ids.push(t.id)
    if (first === 0) first = performance.now()
  }
  return { tokS: (ids.length - 1) / ((performance.now() - first) / 1000), ids }
}

const backendName = await (async () => { const b = await createBackend('auto'); const name = b.name; b.dispose(); return name })()
const servers: ServerProcess[] = []
try {
  writeSyntheticGguf(path, SHAPE_135M, { seed: 7 })
  const local = await Model.load(path)
  await decodeRate(local)
  const { tokS: localTokS, ids: expected } = await decodeRate(local)
  await local.close()
  process.stderr.write(`one process: ${localTokS.toFixed(3)} tok/s\n`)
  servers.push(await startServer(path, ['--blocks', '0:10'], { timeoutMs: 180_000 }))
  servers.push(...await Promise.all(['10:20', '20:30'].map(async b => await startServer(path, ['--blocks', b], { bootstrap: servers, timeoutMs: 180_000 }))))
  for (const mode of ['push', 'relay'] as const) {
    const model = await loadSwarmModel(path, { bootstrap: [servers[0]!.addr], mode })
    await decodeRate(model)
    const { tokS, ids } = await decodeRate(model)
    await model.close()
    console.log(JSON.stringify({
      bench: 'swarm-loopback',
      model: 'synthetic-135M',
      backend: backendName,
      mode,
      servers: 3,
      tok_s: +tokS.toFixed(3),
      local_tok_s: +localTokS.toFixed(3),
      ratio: +(tokS / localTokS).toFixed(3),
      same_tokens: JSON.stringify(ids) === JSON.stringify(expected)
    }))
  }
} finally {
  await stopServers(servers)
  dir.remove()
}

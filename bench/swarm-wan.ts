/**
 * Emulated WAN: three servers, each behind a delay relay (25 ms one way, 100 Mbit/s per direction
 * by default), so every link (client → server, server → server, server → client) costs 25 ms. One
 * JSON line per route mode: decode tok/s against the limit 1 / (compute + sum of one-way delays on
 * the path): 4 links with push (client → s1 → s2 → s3 → client), 6 with the client relaying.
 * With `--speculative`, also one line per drafter and draft bound of speculative decoding (pushed,
 * draft length auto up to 2, the default, whose greedy output is bit for bit plain decoding's, and
 * auto up to 8) against the same no-speculation push limit: n-gram lookup, and a draft model
 * (stories260K: itself; 135m: its Q4_0 copy). Speculation is the only way past that limit.
 *
 * Usage: node --import ./bin/polyfill.mjs --import tsx bench/swarm-wan.ts [stories|135m] [delayMs] [tokens] [rounds] [--speculative]
 */
import { join } from 'node:path'
import { quantizeModel } from '../src/cli/quantize.ts'
import { EXACT_DRAFT, MAX_DRAFT, Model, ModelDraftSource, NgramDrafter, type SpeculationReport } from '../src/model/index.ts'
import { SHAPE_135M, writeSyntheticGguf } from '../src/model/synthetic.ts'
import { loadSwarmModel } from '../src/swarm/index.ts'
import { STORIES, type ServerProcess, startServer, stopServers, tempDir } from '../test/swarm/harness.ts'
import { best, decodeRate, median, swarmRounds } from './measure.ts'
import { type Relay, freePort, startRelay } from './relay.ts'

const speculative = process.argv.includes('--speculative')
const argv = process.argv.slice(2).filter(a => a !== '--speculative')
const which = argv[0] ?? 'stories'
const delayMs = Number(argv[1] ?? 25)
const tokens = Number(argv[2] ?? (which === 'stories' ? 60 : 8))
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
const rounds = Number(argv[3] ?? 3)
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
  const expected = (await decodeRate(local, prompt, tokens)).ids
  await Promise.all([push.close(), relay.close()])
  const computeS = 1 / best(runs.local)
  const spec = speculative ? await speculate(expected) : []
  await local.close()
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
  const pushLimit = 1 / (computeS + (spans.length + 1) * delayMs / 1000)
  for (const r of spec) {
    const tokS = best(r.runs)
    const s = r.reports.reduce((a, b) => ({ steps: a.steps + b.steps, drafted: a.drafted + b.drafted, accepted: a.accepted + b.accepted }), { steps: 0, drafted: 0, accepted: 0 })
    console.log(JSON.stringify({
      bench: 'swarm-wan',
      model: which === 'stories' ? 'stories260K' : 'synthetic-135M',
      mode: 'speculative',
      drafter: r.drafter,
      max_draft: r.maxK,
      one_way_ms: delayMs,
      mbit_s: bytesPerSecond * 8 / 1e6,
      spans: spans.length,
      links_on_path: spans.length + 1,
      rounds,
      tokens,
      compute_ms: +(computeS * 1000).toFixed(2),
      tok_s: +tokS.toFixed(3),
      limit_tok_s: +pushLimit.toFixed(3),
      ratio: +(tokS / pushLimit).toFixed(3),
      median_tok_s: +median(r.runs).toFixed(3),
      acceptance: +(s.accepted / Math.max(1, s.drafted)).toFixed(3),
      tokens_per_step: +((s.accepted + s.steps) / Math.max(1, s.steps)).toFixed(3),
      same_tokens: r.same
    }))
  }
} finally {
  await stopServers(servers)
  await Promise.all(relays.map(async r => { await r.close() }))
  dir.remove()
}

/** Speculative push runs per drafter (draft length auto), interleaved round by round after a warm-up each. */
async function speculate (expected: number[]): Promise<Array<{ drafter: string, maxK: number, runs: number[], reports: SpeculationReport[], same: boolean }>> {
  let draftPath = path
  if (which === '135m') {
    draftPath = join(dir.path, 'synthetic-135m-q4_0.gguf')
    await quantizeModel(path, draftPath, 'q4_0')
  }
  const draftModel = await Model.load(draftPath)
  const model = { drafter: which === '135m' ? 'q4_0' : 'self', source: new ModelDraftSource(draftModel) }
  const ngram = { drafter: 'ngram', source: new NgramDrafter() }
  const variants = [EXACT_DRAFT, MAX_DRAFT].flatMap(maxK => [{ ...ngram, maxK }, { ...model, maxK }])
  const out = []
  const models: Model[] = []
  try {
    for (const v of variants) {
      const m = await loadSwarmModel(path, { bootstrap: [servers[0]!.addr], mode: 'push' })
      m.speculation = { k: 'auto', maxK: v.maxK, drafter: v.source }
      models.push(m)
      await decodeRate(m, prompt, tokens) // warm-up
      out.push({ drafter: v.drafter, maxK: v.maxK, runs: [] as number[], reports: [] as SpeculationReport[], same: true })
    }
    for (let r = 0; r < rounds; r++) {
      for (const [i, m] of models.entries()) {
        const { tokS, ids, speculation } = await decodeRate(m, prompt, tokens)
        out[i]!.runs.push(tokS)
        out[i]!.reports.push(speculation!)
        out[i]!.same &&= JSON.stringify(ids) === JSON.stringify(expected)
        process.stderr.write(`round ${r + 1} speculative ${out[i]!.drafter} up to ${out[i]!.maxK}: ${tokS.toFixed(3)} tok/s (${speculation!.accepted} of ${speculation!.drafted} drafts kept)\n`)
      }
    }
  } finally {
    await Promise.all(models.map(async m => { await m.close() }))
    await draftModel.close()
  }
  return out
}

/**
 * Verification, measured. One JSON line per case:
 *   verify-commitment   the cost of signing and checking a step commitment
 *   verify-calibration  honest distances per (wire, server/auditor backends) and the tolerance
 *   verify-detection    per cheat (and noise size): the share of single audits that catch it
 *   verify-conviction   per cheat, requests of 32 tokens until conviction over seeds (default policy), in a
 *                       real in-process swarm; for the sometimes-cheater also the formula's prediction
 *   verify-false-proofs false proofs against honest servers, and how many convicted anyone
 *   verify-overhead     --verify sample at its default rate vs off, same run: token latency, compute (rows
 *                       x blocks, and the CPU time of the servers' forward passes from their step logs,
 *                       audit sessions against the requests'); --rate R audits more often (more audits
 *                       to average the cost of one over) and scales the share to the default rate
 *
 *   node --import ./bin/polyfill.mjs --import tsx bench/verify.ts [part ...] [--seeds N] [--kind <conviction case>] [--rounds N (overhead; 12)] [--rate R (overhead; the default rate)] [--chunk N (overhead: decode steps per replayed step; 4)]
 * parts: commitment calibration detection conviction false-proofs overhead (default: all)
 */
import { join } from 'node:path'
import { quantizeModel } from '../src/cli/quantize.ts'
import { NetNode, claimBytes, verifyClaim } from '../src/net/index.ts'
import { openModel } from '../src/model/index.ts'
import { SHAPE_135M, writeSyntheticGguf } from '../src/model/synthetic.ts'
import { loadSwarmModel } from '../src/swarm/index.ts'
import { sha256Hex, toHex } from '../src/util/digest.ts'
import { DEFAULT_POLICY, type AuditPolicy, type Verifier, verification } from '../src/verify/index.ts'
import { STORIES, type ServerProcess, cpuSeconds, greedyIds, startServer, startServers, stopServers, tempDir } from '../test/swarm/harness.ts'
import { Calibration, type OutputCheat } from '../test/verify/calibrate.ts'
import { addNoise, kinds } from '../test/verify/kinds.ts'
import { TestSwarm } from '../test/verify/swarm.ts'
import { median } from './measure.ts'

const args = process.argv.slice(2)
const seedsAt = args.indexOf('--seeds')
const SEEDS = seedsAt >= 0 ? Number(args[seedsAt + 1]) : 10
const roundsAt = args.indexOf('--rounds')
const ROUNDS = roundsAt >= 0 ? Number(args[roundsAt + 1]) : 12
const rateAt = args.indexOf('--rate')
const RATE = rateAt >= 0 ? Number(args[rateAt + 1]) : DEFAULT_POLICY.rate
const chunkAt = args.indexOf('--chunk')
const CHUNK = chunkAt >= 0 ? Number(args[chunkAt + 1]) : 4
const kindAt = args.indexOf('--kind')
const only = kindAt >= 0 ? args[kindAt + 1] : undefined
const parts = args.filter((a, i) => !a.startsWith('--') && !['--seeds', '--kind', '--rounds', '--rate', '--chunk'].includes(args[i - 1] ?? ''))
const want = (p: string): boolean => parts.length === 0 || parts.includes(p)
const out = (line: object): void => { console.log(JSON.stringify(line)) }
const dir = tempDir()
const TOKENS = 32
const PROMPT = 'Once upon a time'

const M135 = join(dir.path, 'synthetic-135m.gguf')
/** every server of the overhead swarm holds 10 of the 30 blocks: a request crosses 3 hops */
const BLOCKS_PER_SERVER = 10
const models = async (): Promise<Array<{ name: string, path: string, span: [number, number] }>> => {
  writeSyntheticGguf(M135, SHAPE_135M, { seed: 7 })
  return [{ name: 'stories260K', path: STORIES, span: [1, 4] }, { name: 'synthetic-135M', path: M135, span: [10, 20] }]
}
const quantized = async (path: string, type: 'q8_0' | 'q4_0'): Promise<string> => {
  const q = join(dir.path, `${path.split('/').pop()!.replace('.gguf', '')}-${type}.gguf`)
  await quantizeModel(path, q, type)
  return q
}

try {
  if (want('commitment')) {
    const node = await NetNode.create()
    const claim = { model: 'm'.repeat(32), start: 0, end: 10, session: 's'.repeat(36), step: 1, from: 9, rows: 1, input: 'a'.repeat(64), output: 'b'.repeat(64) }
    const frame = new Uint8Array(576 * 4 + 20)
    const N = 2000
    let t0 = performance.now()
    let sig = ''
    for (let i = 0; i < N; i++) sig = toHex(await node.sign(claimBytes({ ...claim, input: sha256Hex(frame), output: sha256Hex(frame) })))
    const signMs = (performance.now() - t0) / N
    t0 = performance.now()
    for (let i = 0; i < N; i++) await verifyClaim(node.peerId, { ...claim, input: sha256Hex(frame), output: sha256Hex(frame) }, sig)
    out({ bench: 'verify-commitment', sign_ms_per_step: +signMs.toFixed(4), verify_ms_per_step: +((performance.now() - t0) / N).toFixed(4), frame_bytes: frame.byteLength, note: 'sign: two SHA-256 of a 135M-shaped row plus an Ed25519 signature, on the server per step; verify: on the client, only for audited steps' })
    await node.stop()
  }

  if (want('calibration') || want('detection')) {
    for (const m of await models()) {
      const audits = m.name === 'stories260K' ? 2000 : 40
      if (want('calibration')) {
        for (const weights of ['f32', 'q8_0'] as const) {
          const path = weights === 'f32' ? m.path : await quantized(m.path, 'q8_0')
          const c = await Calibration.create(await openModel(path))
          for (const dtype of ['f32', 'f16'] as const) {
            const r = await c.audits(audits, 1, { dtype, span: m.name === 'stories260K' ? undefined : m.span })
            out({ bench: 'verify-calibration', model: m.name, weights, wire: dtype, audits, failures: r.failures, tolerance: r.tolerance, worst: Object.fromEntries(Object.entries(r.worst).map(([k, v]) => [k.split(' ')[1], +v.toExponential(2)])) })
          }
          await c.close()
        }
      }
      if (want('detection')) {
        const source = await openModel(m.path)
        const c = await Calibration.create(source, ['wasm1'])
        const n = m.name === 'stories260K' ? 200 : 12
        const [start, end] = m.span
        const cheats: Array<[string, OutputCheat | undefined, number | undefined, string | undefined]> = [
          ['random', out => out.map((_, i) => Math.sin(i * 12.9898) * 3), undefined, undefined],
          ['zeros', out => new Float32Array(out.length), undefined, undefined],
          ['echo', (_out, input) => input.slice(), undefined, undefined],
          ['skip-layer', async (_o, input, dim) => await c.run(0, start + 1, end, input, [input.length / dim], 'f32'), undefined, undefined],
          ['q4_0-weights', undefined, undefined, await quantized(m.path, 'q4_0')],
          ...[1e-1, 1e-2, 1e-3, 1e-4, 3e-5, 1e-5].map(eps => [`noise`, (o: Float32Array, _i: Float32Array, dim: number) => addNoise(o, dim, eps), eps, undefined] as [string, OutputCheat, number, undefined])
        ]
        for (const [kind, cheat, eps, cheatPath] of cheats) {
          for (const dtype of ['f32', 'f16'] as const) {
            const r = await c.audits(n, 5, { cheat, dtype, span: m.span, cheatSource: cheatPath === undefined ? undefined : await openModel(cheatPath) })
            out({ bench: 'verify-detection', model: m.name, kind, ...(eps !== undefined ? { eps } : {}), wire: dtype, audits: n, caught: +(r.failures / n).toFixed(3), tolerance: r.tolerance })
          }
        }
        await c.close()
      }
    }
  }

  if (want('conviction')) {
    const cases: Array<[string, (seed: number) => ReturnType<typeof kinds.zeros>, number]> = [
      ['zeros', () => kinds.zeros(), SEEDS], ['echo', () => kinds.echo(), SEEDS], ['skip-layer', () => kinds.skipLayer(), SEEDS], ['noise-1e-2', () => kinds.noise(1e-2), SEEDS],
      ['noise-1e-4', () => kinds.noise(1e-4), SEEDS], ['sometimes-f0.1', seed => kinds.sometimes(0.1, 1e-2, seed), 3 * SEEDS], ['honest-200-steps-then-noise', () => kinds.later(200, 1e-2), SEEDS]
    ]
    for (const [kind, make, seeds] of cases) {
      if (only !== undefined && kind !== only) continue
      const requests: number[] = [] // all requests until conviction
      const served: number[] = [] // of them, those routed through the cheater (the formula's n)
      for (let seed = 1; seed <= seeds; seed++) {
        const swarm = await TestSwarm.start() // fresh, so no earlier cheater lingers in records or proofs
        const s = await swarm.suspect(make(seed))
        const { model, verifier, routes } = await swarm.client('sample', DEFAULT_POLICY, seed * 7919)
        let n = 0
        let through = 0
        for (; n < 100 && !verifier.book.isConvicted(s.node.peerId);) {
          n++
          const before = routes.length
          await greedyIds(model, PROMPT, TOKENS)
          await verifier.idle()
          if (routes.slice(before).some(r => r.hops.some(h => h.peer === s.node.peerId))) through++
        }
        const convicted = verifier.book.isConvicted(s.node.peerId)
        requests.push(convicted ? n : Infinity)
        served.push(convicted ? through : Infinity)
        await model.close()
        await swarm.stop()
        process.stderr.write(`conviction ${kind} seed ${seed}: ${requests.at(-1)} requests, ${through} through the cheater\n`)
      }
      const caught = requests.filter(r => r < Infinity)
      const throughCaught = served.filter(r => r < Infinity)
      const mean = (xs: number[]): number | null => xs.length > 0 ? +(xs.reduce((a, b) => a + b, 0) / xs.length).toFixed(2) : null
      out({
        bench: 'verify-conviction', model: 'stories260K', kind, seeds, tokens_per_request: TOKENS, policy: DEFAULT_POLICY,
        convicted_within_100: +(caught.length / seeds).toFixed(3), median_requests: caught.length > 0 ? median(caught) : null, max_requests: caught.length > 0 ? Math.max(...caught) : null,
        mean_requests: mean(caught), mean_requests_through_cheater: mean(throughCaught),
        ...(kind === 'sometimes-f0.1' ? { predicted_mean_requests_through_cheater: +predictedRequests(DEFAULT_POLICY, 0.1, TOKENS).toFixed(2) } : {})
      })
    }
  }

  if (want('false-proofs')) out(await falseProofs())
  if (want('overhead')) out(await overhead())
} finally {
  dir.remove()
}

/**
 * The formula's mean requests to conviction for a server cheating on a fraction f of its steps:
 * each request is audited with the policy's rate (probation first), an audit covers the steps up to
 * a uniformly random one of the request's steps + 1, and catches if any of them was cheated.
 */
function predictedRequests (policy: AuditPolicy, f: number, tokens: number): number {
  const steps = tokens // the prompt's step and tokens - 1 decode steps
  let q = 0
  for (let e = 0; e < steps; e++) q += (1 - (1 - f) ** (e + 1)) / steps
  // P(not yet caught) after each request, by passed audits; mean = sum over requests of P(not yet)
  let alive = new Map<number, number>([[0, 1]])
  let mean = 0
  for (let n = 0; n < 10_000; n++) {
    let total = 0
    for (const p of alive.values()) total += p
    mean += total
    if (total < 1e-9) break
    const next = new Map<number, number>()
    for (const [passed, p] of alive) {
      const rate = passed < policy.probationAudits ? policy.probationRate : policy.rate
      next.set(passed, (next.get(passed) ?? 0) + p * (1 - rate))
      next.set(passed + 1, (next.get(passed + 1) ?? 0) + p * rate * (1 - q))
    }
    alive = next
  }
  return mean
}

async function falseProofs (): Promise<object> {
  const { buildProof, signProof } = await import('../src/verify/index.ts')
  const { RemoteSpanSession, publishProof } = await import('../src/net/index.ts')
  const swarm = await TestSwarm.start()
  const accuser = await NetNode.create({ bootstrap: swarm.bootstrap })
  const probe = await swarm.client('off', DEFAULT_POLICY)
  const dim = probe.model.config.dim
  let published = 0
  for (const honest of swarm.honest) {
    const [start, end] = honest === swarm.honest[0] || honest === swarm.honest[1] ? [0, 2] : [2, 5]
    const records: Parameters<typeof buildProof>[1][number][] = []
    const inputs = [Float32Array.from({ length: 3 * dim }, (_, i) => Math.sin(i)), Float32Array.from({ length: dim }, (_, i) => Math.cos(i))]
    const session = `false-proof-${published}-${Date.now()}`
    const remote = await RemoteSpanSession.open(accuser, { id: honest.node.peerId, addrs: honest.addresses.map(a => a.slice(0, a.lastIndexOf('/p2p/'))) },
      { session, model: probe.model.modelId, start, end, maxLength: 16 }, dim,
      { onResult: (step, output, receipt) => { records.push({ step, from: step === 0 ? 0 : 3, input: inputs[step]!, output, receipt }) }, onFailure: () => {} })
    await remote.step(0, 0, inputs[0]!, false)
    await remote.step(1, 3, inputs[1]!, false)
    for (let t = 0; t < 300 && records.length < 2; t++) await new Promise(resolve => setTimeout(resolve, 10))
    await remote.close()
    const signed = await signProof(buildProof({ peer: honest.node.peerId, session, start, end }, records, { model: probe.model.modelId, dtype: 'f32', dim, accuser: accuser.peerId }), async b => await accuser.sign(b))
    const hosts = swarm.honest.filter(h => h !== honest).map(h => ({ id: h.node.peerId, addrs: h.addresses.map(a => a.slice(0, a.lastIndexOf('/p2p/'))) }))
    if (await publishProof(accuser, hosts, honest.node.peerId, signed.bytes) > 0) published++
  }
  await probe.verifier.scanProofs()
  const convicted = swarm.honest.filter(h => probe.verifier.book.isConvicted(h.node.peerId)).length
  const standing = probe.verifier.book.get(accuser.peerId)
  await probe.model.close()
  await accuser.stop()
  await swarm.stop()
  return { bench: 'verify-false-proofs', model: 'stories260K', false_proofs_published: published, honest_convicted: convicted, accuser_false_accusations: standing.falseAccusations }
}

/** --verify sample at the default steady rate against off, interleaved on a 135M-shaped swarm of server processes. */
async function overhead (): Promise<object> {
  writeSyntheticGguf(M135, SHAPE_135M, { seed: 7 })
  const servers: ServerProcess[] = []
  const rounds = ROUNDS
  // the servers log every step's forward time (wall and CPU) by session
  const env = { DEBUG: 'gridllm:net:steps' }
  try {
    const first = await startServer(M135, ['--blocks', '0:10', '--threads', '1'], { timeoutMs: 180_000, detached: true, env })
    servers.push(first)
    await startServers(servers, M135, ['0:10', '10:20', '10:20', '20:30', '20:30'].map(b => ['--blocks', b, '--threads', '1']), { bootstrap: [first], timeoutMs: 180_000, detached: true, env })
    const steady: AuditPolicy = { ...DEFAULT_POLICY, rate: RATE, probationAudits: 0 }
    let verifier: Verifier | undefined
    const audits: Array<{ audited: string, replays: string[] }> = []
    const off = await loadSwarmModel(M135, { bootstrap: [first.addr] })
    const sample = await loadSwarmModel(M135, {
      bootstrap: [first.addr],
      watcher: verification({ mode: 'sample', policy: steady, chunk: CHUNK, onVerifier: v => { verifier = v }, onAudit: (o, hop) => { audits.push({ audited: hop.session, replays: (o.replays ?? []).map(r => r.session) }) } })
    })
    const perToken: Record<'off' | 'sample', number[]> = { off: [], sample: [] }
    const rows = { sample: 0 }
    for (const m of [off, sample]) await greedyIds(m, 'the quick brown fox', 4) // warm-up
    await verifier!.idle()
    audits.length = 0
    const logFrom = servers.map(s => s.log().length)
    // CPU seconds per mode: the servers' (audit replays run there) and this client's (its own checks)
    const cpu = { off: { servers: 0, client: 0 }, sample: { servers: 0, client: 0 } }
    const serversCpu = (): number => servers.reduce((sum, s) => sum + cpuSeconds(s.proc.pid!), 0)
    const clientCpu = (): number => { const u = process.cpuUsage(); return (u.user + u.system) / 1e6 }
    for (let r = 0; r < rounds; r++) {
      for (const [name, m] of [['off', off], ['sample', sample]] as const) {
        const [s0, c0] = [serversCpu(), clientCpu()]
        const t0 = performance.now()
        const gen = m.generate('the quick brown fox', { temperature: 0, maxTokens: TOKENS })
        for await (const _ of gen);
        perToken[name].push((performance.now() - t0) / TOKENS)
        if (name === 'sample') await verifier!.idle() // the audits this request launched, counted in its round
        cpu[name].servers += serversCpu() - s0
        cpu[name].client += clientCpu() - c0
        if (name === 'sample') rows.sample += (gen.promptTokens + gen.completionTokens) * m.config.nLayers
        process.stderr.write(`overhead round ${r + 1} ${name}: ${perToken[name].at(-1)!.toFixed(1)} ms/token\n`)
      }
    }
    await verifier!.idle()
    // forward CPU ms per session at the servers, since the warm-up
    const steps = stepCosts(servers.map((s, i) => s.log().slice(logFrom[i])))
    const auditSessions = new Set(audits.flatMap(a => a.replays))
    const sum = (pick: (session: string) => boolean, key: 'cpuMs' | 'rowBlocks'): number => [...steps].reduce((n, [id, c]) => n + (pick(id) ? c[key] : 0), 0)
    // the requests' own sessions (off and sample alike: the same prompt and length), the sample half
    const share = (key: 'cpuMs' | 'rowBlocks'): number => sum(id => auditSessions.has(id), key) / (sum(id => !auditSessions.has(id), key) / 2)
    // one audit's cost against that of the hop's session it audited, averaged over audits, times the default rate
    const perAudit = (key: 'cpuMs' | 'rowBlocks'): number => mean(audits.filter(a => steps.has(a.audited)).map(a => a.replays.reduce((n, id) => n + (steps.get(id)?.[key] ?? 0), 0) / steps.get(a.audited)![key]))
    const hops = SHAPE_135M.nLayers / BLOCKS_PER_SERVER
    const result = {
      bench: 'verify-overhead', model: 'synthetic-135M', servers: 6, rounds, tokens_per_request: TOKENS, rate: steady.rate, default_rate: DEFAULT_POLICY.rate, chunk: CHUNK,
      ms_per_token_off: +median(perToken.off).toFixed(2), ms_per_token_sample: +median(perToken.sample).toFixed(2),
      latency_ratio: +(median(perToken.sample) / median(perToken.off)).toFixed(3),
      audits: verifier!.stats().audits,
      audited_hops_share: +(audits.length / (rounds * hops)).toFixed(3),
      audit_compute_share: { rows: +(verifier!.auditedRowBlocks / rows.sample).toFixed(4), server_rows: +share('rowBlocks').toFixed(4), server_cpu: +share('cpuMs').toFixed(4) },
      cost_of_one_audit: { rows: +perAudit('rowBlocks').toFixed(3), cpu: +perAudit('cpuMs').toFixed(3) },
      share_at_default_rate: { rows: +(DEFAULT_POLICY.rate * perAudit('rowBlocks')).toFixed(4), cpu: +(DEFAULT_POLICY.rate * perAudit('cpuMs')).toFixed(4) },
      cpu_s: { off: { servers: +cpu.off.servers.toFixed(2), client: +cpu.off.client.toFixed(2) }, sample: { servers: +cpu.sample.servers.toFixed(2), client: +cpu.sample.client.toFixed(2) } },
      cpu_ratio: +((cpu.sample.servers + cpu.sample.client) / (cpu.off.servers + cpu.off.client)).toFixed(3),
      note: 'compute share: audits against the requests, in rows x blocks and in the CPU time of the servers\' forward passes; cost of one audit: against the hop session it audited; share at default rate = default rate x cost of one audit'
    }
    await Promise.all([off.close(), sample.close()])
    return result
  } finally {
    await stopServers(servers)
  }
}


/** Per session, from servers' step logs (gridllm:net:steps): forward CPU ms and rows x blocks. */
function stepCosts (logs: readonly string[]): Map<string, { cpuMs: number, rowBlocks: number }> {
  const costs = new Map<string, { cpuMs: number, rowBlocks: number }>()
  const line = /gridllm:net:steps (\S+) step \d+: (\d+) rows, forward [\d.]+ ms, cpu ([\d.]+) ms/g
  for (const log of logs) {
    for (const m of log.matchAll(line)) {
      const c = costs.get(m[1]!) ?? { cpuMs: 0, rowBlocks: 0 }
      c.cpuMs += Number(m[3])
      c.rowBlocks += Number(m[2]) * BLOCKS_PER_SERVER
      costs.set(m[1]!, c)
    }
  }
  return costs
}

function mean (xs: readonly number[]): number {
  return xs.length === 0 ? NaN : xs.reduce((a, b) => a + b, 0) / xs.length
}

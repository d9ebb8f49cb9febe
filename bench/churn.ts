/**
 * Churn with real processes: 50 `gridllm serve` processes on loopback (the bundled stories260K,
 * `--blocks auto` with 1 to 3 blocks each, announcing every 5 minutes) join, leave
 * (SIGTERM) and are killed (SIGKILL) at random for 5 minutes, while clients generate greedily from BOS. Every generation must print llama2.c's reference tokens
 * (test/fixtures/stories260K). A `gridllm relay` on loopback is the stable bootstrap. No block is
 * ever left without a live server by the churn itself (that would be a NO_ROUTE, not a failover).
 *
 * Prints one JSON line. Not run in CI (it takes the 5 minutes plus start-up).
 * Usage: node --import ./bin/polyfill.mjs --import tsx bench/churn.ts [--servers 50] [--minutes 5] [--clients 3] [--tokens 100] [--announce-period 300] [--rebalance-period 600]
 */
import { spawn } from 'node:child_process'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import type { Model } from '../src/model/index.ts'
import { loadSwarmModel } from '../src/swarm/index.ts'
import { expectedIds } from '../test/fixtures/stories.ts'
import { ROOT, STORIES, type ServerProcess, killGroup, startServer, stopServers } from '../test/swarm/harness.ts'
import { rng } from './sim-net.ts'

const { values: args } = parseArgs({ options: { servers: { type: 'string' }, minutes: { type: 'string' }, clients: { type: 'string' }, tokens: { type: 'string' }, seed: { type: 'string' }, 'announce-period': { type: 'string' }, 'rebalance-period': { type: 'string' } } })
const N = Number(args.servers ?? 50)
const MINUTES = Number(args.minutes ?? 5)
const CLIENTS = Number(args.clients ?? 3)
const TOKENS = Number(args.tokens ?? 100)
const N_LAYERS = 5
// a server's DHT upkeep (announces, directory reads, connection pings) costs it a few % of a core at
// the default 60 s period (bench/idle.ts); 50 of them on a 2-core machine need longer periods
const ANNOUNCE = args['announce-period'] ?? '300'
const REBALANCE = args['rebalance-period'] ?? '600'
const random = rng(Number(args.seed ?? 1))
const reference = expectedIds().slice(0, TOKENS)
const log = (line: string): void => { process.stderr.write(`[${((performance.now() - t0) / 1000).toFixed(0)} s] ${line}\n`) }
const t0 = performance.now()

// the bootstrap: a relay node that serves no blocks and is never killed
const relay = spawn(process.execPath, [join(ROOT, 'bin/gridllm.mjs'), 'relay', '--listen', '/ip4/127.0.0.1/tcp/0'], { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'], detached: true })
const relayAddr = await new Promise<string>((resolve, reject) => {
  let out = ''
  relay.stdout.on('data', (d: Buffer) => { out += d.toString(); const m = /^listening (\S+)$/m.exec(out); if (m !== null) resolve(m[1]!) })
  relay.on('exit', code => { reject(new Error(`the relay exited (${code})`)) })
})
const bootstrap = { addr: relayAddr } as ServerProcess

interface Live { s: ServerProcess, start: number, end: number }
const live = new Map<string, Live>()
const all: ServerProcess[] = []
// nothing outlives the script, however it ends
const cleanup = (): void => {
  for (const s of all) killGroup(s, 'SIGKILL')
  try { process.kill(-relay.pid!, 'SIGKILL') } catch {}
}
process.on('exit', cleanup)
for (const sig of ['SIGINT', 'SIGTERM'] as const) process.on(sig, () => { process.exit(130) })
let joins = 0
let kills = 0
let leaves = 0

/** The span a server announced (its last "blocks a:b" or "moving to blocks a:b"). */
function span (s: ServerProcess): [number, number] {
  const all = [...s.log().matchAll(/(?:online, model \S+, blocks|moving to blocks) (\d+):(\d+)/g)]
  const m = all[all.length - 1]
  return m === undefined ? [0, 0] : [Number(m[1]), Number(m[2])]
}

async function join1 (): Promise<void> {
  const k = 1 + Math.floor(random() * 3)
  const s = await startServer(STORIES, ['--blocks', 'auto', '--num-blocks', String(k), '--announce-period', ANNOUNCE, '--rebalance-period', REBALANCE, '--threads', '1'],
    { bootstrap: [bootstrap], detached: true, timeoutMs: 300_000 }) // starts overlap on this machine's 2 cores
  all.push(s)
  const [start, end] = span(s)
  live.set(s.peer, { s, start, end })
  joins++
}

/** Live servers of each block if `without` left. */
function coverAfter (without: string): number[] {
  const cover = new Array<number>(N_LAYERS).fill(0)
  for (const [peer, l] of live) {
    if (peer === without) continue
    const [start, end] = span(l.s)
    for (let b = start; b < end; b++) cover[b]!++
  }
  return cover
}

log(`starting ${N} servers`)
// five at a time: each start compiles the code and hashes the model on the same 2 cores
for (let i = 0; i < N; i += 5) {
  const starts = await Promise.allSettled(Array.from({ length: Math.min(5, N - i) }, join1))
  for (const r of starts) if (r.status === 'rejected') log(`a server did not start: ${(r.reason as Error).message.split('\n')[0]}`)
}
log(`${live.size} servers online`)

let started = 0
let matched = 0
const failures: string[] = []
let stopping = false
async function clientLoop (id: number): Promise<void> {
  let model: Model | undefined
  try {
    model = await loadSwarmModel(STORIES, { bootstrap: [relayAddr], threads: 1 })
    while (!stopping) {
      started++
      const ids: number[] = []
      try {
        for await (const t of model.generate('', { temperature: 0, maxTokens: TOKENS })) ids.push(t.id)
        if (ids.length === reference.length && ids.every((x, i) => x === reference[i])) matched++
        else failures.push(`client ${id}: different tokens after ${ids.findIndex((x, i) => x !== reference[i])}`)
      } catch (err) {
        failures.push(`client ${id}: ${(err as Error).message} [${(err as { code?: string }).code ?? '?'}]`)
        log(`generation failed: ${(err as Error).message}`)
      }
    }
  } finally {
    await model?.close()
  }
}
const loops = Array.from({ length: CLIENTS }, async (_, i) => { await clientLoop(i) })

// churn: every 2-6 s one server joins, leaves or is killed, keeping 35..N servers and >= 2 per block
const end = performance.now() + MINUTES * 60_000
while (performance.now() < end) {
  await new Promise(resolve => setTimeout(resolve, 2000 + random() * 4000))
  const roll = random()
  if (roll < 0.4 || live.size <= 0.7 * N) {
    if (live.size < N) await join1().catch(err => { log(`a join failed: ${(err as Error).message}`) })
    continue
  }
  const peers = [...live.keys()].filter(p => Math.min(...coverAfter(p)) >= 2)
  if (peers.length === 0) continue
  const victim = live.get(peers[Math.floor(random() * peers.length)]!)!
  live.delete(victim.s.peer)
  if (roll < 0.7) { victim.s.proc.kill('SIGKILL'); killGroup(victim.s, 'SIGKILL'); kills++ } else { victim.s.proc.kill('SIGTERM'); leaves++ }
}
stopping = true
log('churn over; waiting for the last generations')
await Promise.all(loops)
await stopServers(all)
killGroup({ proc: relay } as ServerProcess, 'SIGTERM')
relay.kill('SIGTERM')

console.log(JSON.stringify({
  bench: 'churn',
  servers: N,
  minutes: MINUTES,
  clients: CLIENTS,
  tokens_per_generation: TOKENS,
  announce_period_s: Number(ANNOUNCE),
  joins,
  leaves,
  kills,
  generations_started: started,
  generations_reference: matched,
  reference_ratio: started === 0 ? 0 : Math.round(1000 * matched / started) / 1000,
  failures: failures.slice(0, 10)
}))

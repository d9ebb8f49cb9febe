/**
 * What an idle swarm costs each server: N `gridllm serve` processes on loopback (the bundled model,
 * `--blocks auto`) and a relay as bootstrap, nobody generating. After they settle, the CPU seconds
 * each process used over a window, compared in the same run with a lone server's over the same
 * window (the reference: what announcing alone costs). A swarm whose servers read the directory too
 * often shows here as a ratio that grows with N.
 *
 * Prints one JSON line. Usage:
 *   node --import ./bin/polyfill.mjs --import tsx bench/idle.ts [--servers 10] [--seconds 60] [--announce-period 60] [--rebalance-period 120]
 */
import { spawn } from 'node:child_process'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { ROOT, STORIES, type ServerProcess, cpuSeconds, killGroup, startServer, stopServers } from '../test/swarm/harness.ts'

const { values: args } = parseArgs({ options: { servers: { type: 'string' }, seconds: { type: 'string' }, 'announce-period': { type: 'string' }, 'rebalance-period': { type: 'string' } } })
const N = Number(args.servers ?? 10)
const SECONDS = Number(args.seconds ?? 60)
const periods = ['--announce-period', args['announce-period'] ?? '60', '--rebalance-period', args['rebalance-period'] ?? '120']
const log = (line: string): void => { process.stderr.write(`${line}\n`) }
const sleep = async (ms: number): Promise<void> => { await new Promise(resolve => setTimeout(resolve, ms)) }

const all: ServerProcess[] = []
const relay = spawn(process.execPath, [join(ROOT, 'bin/gridllm.mjs'), 'relay', '--listen', '/ip4/127.0.0.1/tcp/0'], { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'], detached: true })
// nothing outlives the script, however it ends
process.on('exit', () => {
  for (const s of all) killGroup(s, 'SIGKILL')
  try { process.kill(-relay.pid!, 'SIGKILL') } catch {}
})
for (const sig of ['SIGINT', 'SIGTERM'] as const) process.on(sig, () => { process.exit(130) })
const relayAddr = await new Promise<string>((resolve, reject) => {
  let out = ''
  relay.stdout.on('data', (d: Buffer) => { out += d.toString(); const m = /^listening (\S+)$/m.exec(out); if (m !== null) resolve(m[1]!) })
  relay.on('exit', code => { reject(new Error(`the relay exited (${code})`)) })
})

/** CPU seconds each of `pids` uses over the window. */
async function window (pids: readonly number[]): Promise<number[]> {
  const before = pids.map(cpuSeconds)
  await sleep(SECONDS * 1000)
  return pids.map((p, i) => Math.round(100 * (cpuSeconds(p) - before[i]!)) / 100)
}
const median = (xs: readonly number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!

// the reference: one server alone, with its own bootstrap-less swarm
const lone = await startServer(STORIES, ['--blocks', 'auto', ...periods, '--threads', '1'], { detached: true })
all.push(lone)
await sleep(5000)
const [loneCpu] = await window([lone.proc.pid!])
await stopServers([lone])

log(`starting ${N} servers`)
const bootstrap = [{ addr: relayAddr } as ServerProcess]
for (let i = 0; i < N; i += 5) {
  await Promise.all(Array.from({ length: Math.min(5, N - i) }, async () => {
    all.push(await startServer(STORIES, ['--blocks', 'auto', '--num-blocks', '2', ...periods, '--threads', '1'], { bootstrap, detached: true, timeoutMs: 300_000 }))
  }))
}
await sleep(Number(periods[1]) * 1000 + 10_000) // let the joins settle: every server re-announced once, provider records spread
const swarm = all.slice(1)
const cpu = await window([relay.pid!, ...swarm.map(s => s.proc.pid!)])
await stopServers(swarm)
killGroup({ proc: relay } as ServerProcess, 'SIGTERM')

const servers = cpu.slice(1)
console.log(JSON.stringify({
  bench: 'idle',
  servers: N,
  window_s: SECONDS,
  announce_period_s: Number(periods[1]),
  rebalance_period_s: Number(periods[3]),
  lone_cpu_s: loneCpu,
  server_cpu_s_median: median(servers),
  server_cpu_s_max: Math.max(...servers),
  relay_cpu_s: cpu[0],
  median_ratio_to_lone: Math.round(100 * median(servers) / Math.max(0.01, loneCpu!)) / 100
}))

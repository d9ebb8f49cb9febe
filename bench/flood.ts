/**
 * Flood: three servers (stories260K over 0:2, 2:4, 4:5); an honest client generates 200 greedy
 * tokens from BOS unloaded, then again while one peer floods every server (bench/flood-attacker.ts:
 * 1,000 sessions, 16 half-sent 64 MiB messages, 400 idle connections from other peers). The honest
 * tokens must equal llama2.c's reference, at most 2x slower than unloaded. Also timed with the
 * attacker stopped but everything it took still held ("held"). Prints one JSON line, with the CPU
 * seconds the servers and the attacker spent during the loaded and held runs: on this machine the
 * attacker shares the cores with the servers and the client, which a remote attacker would not.
 * `--attacker-cpu F` caps the attacker, once its attack is in place, at F of one core (a cgroup; needs
 * root, else the cap is reported as null), the nearest this machine comes to an attacker elsewhere.
 *
 *   node --import ./bin/polyfill.mjs --import tsx bench/flood.ts [--attacker-cpu 0.1]
 */
import { spawn } from 'node:child_process'
import { mkdirSync, rmdirSync, writeFileSync } from 'node:fs'
import { createInterface } from 'node:readline'
import { parseArgs } from 'node:util'
import { loadSwarmModel } from '../src/swarm/index.ts'
import { expectedIds } from '../test/fixtures/stories.ts'
import { ROOT, type ServerProcess, STORIES, cpuSeconds, greedyIds, killGroup, rssMiB, startServer, startServers, stopServers } from '../test/swarm/harness.ts'

const { values: args } = parseArgs({ options: { 'attacker-cpu': { type: 'string' } } })
const attackerCpu = args['attacker-cpu'] === undefined ? undefined : Number(args['attacker-cpu'])
if (attackerCpu !== undefined && !(attackerCpu > 0 && attackerCpu <= 2)) throw new Error('--attacker-cpu takes a share of one core in (0, 2]')
const CGROUP = '/sys/fs/cgroup/cpu/gridllm-flood-attacker' // cgroup v1's cpu controller
/** Moves a process into a cgroup that lets it use `share` of one core; false where that cannot be done. */
function capCpu (pid: number, share: number): boolean {
  try {
    mkdirSync(CGROUP, { recursive: true })
    writeFileSync(`${CGROUP}/cpu.cfs_period_us`, '100000')
    writeFileSync(`${CGROUP}/cpu.cfs_quota_us`, String(Math.round(share * 100_000)))
    writeFileSync(`${CGROUP}/cgroup.procs`, String(pid))
    return true
  } catch (err) {
    process.stderr.write(`could not cap the attacker's CPU: ${(err as Error).message}\n`)
    return false
  }
}

const servers: ServerProcess[] = []
let attackerPid: number | undefined
const cleanup = (): void => {
  for (const s of servers) killGroup(s, 'SIGKILL')
  if (attackerPid !== undefined) try { process.kill(-attackerPid, 'SIGKILL') } catch {}
  try { rmdirSync(CGROUP) } catch {} // only once empty; a cap that was never made is not there
}
process.on('exit', cleanup)
for (const sig of ['SIGINT', 'SIGTERM'] as const) process.on(sig, () => { cleanup(); process.exit(130) })

const timed = async (run: () => Promise<number[]>): Promise<{ ms: number, ids: number[] }> => {
  const t0 = performance.now()
  const ids = await run()
  return { ms: performance.now() - t0, ids }
}

try {
  const first = await startServer(STORIES, ['--blocks', '0:2'], { detached: true })
  servers.push(first)
  await startServers(servers, STORIES, [['--blocks', '2:4'], ['--blocks', '4:5']], { bootstrap: [first], detached: true })
  const model = await loadSwarmModel(STORIES, { bootstrap: [first.addr] })
  const reference = expectedIds()
  try {
    await greedyIds(model, '', 20) // warm-up: connections, JIT
    const runs = []
    const unloadedCpu0 = servers.reduce((sum, s) => sum + cpuSeconds(s.proc.pid!), 0)
    for (let r = 0; r < 3; r++) runs.push(await timed(async () => await greedyIds(model, '', 200)))
    const serversUnloadedS = servers.reduce((sum, s) => sum + cpuSeconds(s.proc.pid!), 0) - unloadedCpu0
    const unloaded = Math.min(...runs.map(r => r.ms))
    const rssBefore = servers.map(s => rssMiB(s.proc.pid!))

    const attacker = spawn(process.execPath, ['--import', './bin/polyfill.mjs', '--import', 'tsx', 'bench/flood-attacker.ts', model.modelId, String(model.config.contextLength), ...servers.map(s => `${s.args[1]}@${s.addr}`)],
      { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'], detached: true })
    attackerPid = attacker.pid
    const attack = await new Promise<Record<string, unknown>>((resolve, reject) => {
      createInterface({ input: attacker.stdout! }).once('line', line => { resolve(JSON.parse(line) as Record<string, unknown>) })
      attacker.once('exit', code => { reject(new Error(`the attacker exited (${code})`)) })
    })
    process.stderr.write(`attack in place: ${JSON.stringify(attack)}\n`)
    // loaded: the attacker runs; held: it is stopped (SIGSTOP) with everything it took still held by
    // the servers, which separates what the servers pay for the attack from the attacker's own CPU
    // on this machine (a real attacker runs elsewhere). Interleaved, so other load hits both alike.
    const capped = attackerCpu !== undefined && capCpu(attackerPid!, attackerCpu)
    const loadedRuns = []
    const heldRuns = []
    const cpu = { servers_unloaded_s: serversUnloadedS, servers_loaded_s: 0, servers_held_s: 0, attacker_loaded_s: 0 }
    const serversCpu = (): number => servers.reduce((sum, s) => sum + cpuSeconds(s.proc.pid!), 0)
    for (let r = 0; r < 3; r++) {
      let [s0, a0] = [serversCpu(), cpuSeconds(attackerPid!)]
      loadedRuns.push(await timed(async () => await greedyIds(model, '', 200)))
      cpu.servers_loaded_s += serversCpu() - s0
      cpu.attacker_loaded_s += cpuSeconds(attackerPid!) - a0
      process.kill(-attackerPid!, 'SIGSTOP')
      s0 = serversCpu()
      heldRuns.push(await timed(async () => await greedyIds(model, '', 200)))
      cpu.servers_held_s += serversCpu() - s0
      process.kill(-attackerPid!, 'SIGCONT')
    }
    const loaded = Math.min(...loadedRuns.map(r => r.ms))
    const held = Math.min(...heldRuns.map(r => r.ms))
    const rssAfter = servers.map(s => rssMiB(s.proc.pid!))
    const same = [...runs, ...loadedRuns, ...heldRuns].every(r => JSON.stringify(r.ids) === JSON.stringify(reference))
    console.log(JSON.stringify({
      bench: 'flood',
      model: 'stories260K',
      tokens: 200,
      same_tokens: same,
      unloaded_ms: +unloaded.toFixed(1),
      loaded_ms: +loaded.toFixed(1),
      ratio: +(loaded / unloaded).toFixed(3),
      loaded_runs_ms: loadedRuns.map(r => +r.ms.toFixed(1)),
      held_ms: +held.toFixed(1),
      held_ratio: +(held / unloaded).toFixed(3),
      attack,
      attacker_cpu_cap: capped ? attackerCpu : null,
      cpu_s: Object.fromEntries(Object.entries(cpu).map(([k, v]) => [k, +v.toFixed(2)])),
      server_rss_mib_before: rssBefore.map(r => +r.toFixed(0)),
      server_rss_mib_under_attack: rssAfter.map(r => +r.toFixed(0)),
      met: same && loaded <= 2 * unloaded
    }))
  } finally {
    await model.close()
  }
} finally {
  cleanup()
  await stopServers(servers)
}

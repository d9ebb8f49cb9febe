/**
 * Flood: three servers (stories260K over 0:2, 2:4, 4:5); an honest client generates 200 greedy
 * tokens from BOS unloaded, then again while one peer floods every server (bench/flood-attacker.ts:
 * 1,000 sessions, 16 half-sent 64 MiB messages, 400 idle connections from other peers). The honest
 * tokens must equal llama2.c's reference, at most 2x slower than unloaded. Also timed with the
 * attacker stopped but everything it took still held ("held"). Prints one JSON line.
 *
 *   node --import ./bin/polyfill.mjs --import tsx bench/flood.ts
 */
import { spawn } from 'node:child_process'
import { createInterface } from 'node:readline'
import { loadSwarmModel } from '../src/swarm/index.ts'
import { expectedIds } from '../test/fixtures/stories.ts'
import { ROOT, type ServerProcess, STORIES, greedyIds, killGroup, rssMiB, startServer, startServers, stopServers } from '../test/swarm/harness.ts'

const servers: ServerProcess[] = []
let attackerPid: number | undefined
const cleanup = (): void => {
  for (const s of servers) killGroup(s, 'SIGKILL')
  if (attackerPid !== undefined) try { process.kill(-attackerPid, 'SIGKILL') } catch {}
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
    for (let r = 0; r < 3; r++) runs.push(await timed(async () => await greedyIds(model, '', 200)))
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
    const loadedRuns = []
    const heldRuns = []
    for (let r = 0; r < 3; r++) {
      loadedRuns.push(await timed(async () => await greedyIds(model, '', 200)))
      process.kill(-attackerPid!, 'SIGSTOP')
      heldRuns.push(await timed(async () => await greedyIds(model, '', 200)))
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

/**
 * Multi-process swarm tests: spawns `bin/gridllm.mjs serve` processes on loopback and reads the
 * `listening <multiaddr>` line each prints once it is online.
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { type ServeOptions, SwarmServer } from '../../src/swarm/index.ts'

export const ROOT = fileURLToPath(new URL('../..', import.meta.url))
export const STORIES = join(ROOT, 'models/stories260K/stories260K.gguf')
const BIN = join(ROOT, 'bin/gridllm.mjs')

export interface ServerProcess {
  readonly proc: ChildProcess
  /** the multiaddr it printed, with /p2p/<peer id> */
  readonly addr: string
  readonly peer: string
  readonly args: readonly string[]
  /** everything it wrote to stderr so far */
  readonly log: () => string
  /** resolves with the exit code (or the signal's name) */
  readonly exited: Promise<number | string>
}

export interface StartOptions {
  bootstrap?: readonly ServerProcess[]
  /** default /ip4/127.0.0.1/tcp/0 */
  listen?: string
  timeoutMs?: number
  env?: NodeJS.ProcessEnv
  /** in a process group of its own (benchmarks: stopServers then kills the whole group) */
  detached?: boolean
}

/**
 * Starts `gridllm serve --model <model> <args>` listening on loopback; resolves once it is online.
 * Without a --data-dir in `args` it gets a fresh one of its own (removed when it exits), so no test
 * touches the real home's ~/.gridllm and servers never share an identity.
 */
export async function startServer (model: string, args: readonly string[], options: StartOptions = {}): Promise<ServerProcess> {
  const own = args.includes('--data-dir') ? undefined : mkdtempSync(join(tmpdir(), 'gridllm-node-'))
  const argv = [BIN, 'serve', '--model', model, '--listen', options.listen ?? '/ip4/127.0.0.1/tcp/0', ...(own === undefined ? [] : ['--data-dir', own]), ...args]
  for (const b of options.bootstrap ?? []) argv.push('--bootstrap', b.addr)
  const proc = spawn(process.execPath, argv, { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...options.env }, detached: options.detached === true })
  let stderr = ''
  let stdout = ''
  proc.stderr!.on('data', (d: Buffer) => { stderr += d.toString() })
  const exited = new Promise<number | string>(resolve => {
    proc.on('exit', (code, signal) => {
      if (own !== undefined) rmSync(own, { recursive: true, force: true })
      resolve(code ?? signal ?? 'unknown')
    })
  })
  const addr = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => { proc.kill('SIGKILL'); reject(new Error(`server ${args.join(' ')} did not come online:\n${stderr}`)) }, options.timeoutMs ?? 60_000)
    proc.stdout!.on('data', (d: Buffer) => {
      stdout += d.toString()
      const m = /^listening (\S+)$/m.exec(stdout)
      if (m !== null) { clearTimeout(timer); resolve(m[1]!) }
    })
    void exited.then(code => { clearTimeout(timer); reject(new Error(`server ${args.join(' ')} exited (${code}) before coming online:\n${stderr}`)) })
  })
  return { proc, addr, peer: addr.slice(addr.lastIndexOf('/p2p/') + 5), args, log: () => stderr, exited }
}

/**
 * Starts several servers at once and adds each that comes online to `into`, also when another one
 * fails (its error is then thrown), so the caller's cleanup stops every process it started.
 */
export async function startServers (into: ServerProcess[], model: string, argsList: ReadonlyArray<readonly string[]>, options: StartOptions = {}): Promise<void> {
  const results = await Promise.allSettled(argsList.map(async args => await startServer(model, args, options)))
  for (const r of results) if (r.status === 'fulfilled') into.push(r.value)
  const failed = results.find(r => r.status === 'rejected')
  if (failed !== undefined) throw failed.reason
}

/** SIGTERM (clean shutdown) every server still running, SIGKILL after a grace period. */
export async function stopServers (servers: Iterable<ServerProcess>, graceMs = 5000): Promise<void> {
  await Promise.all([...servers].map(async s => {
    if (s.proc.exitCode !== null || s.proc.signalCode !== null) return
    s.proc.kill('SIGTERM')
    const timer = setTimeout(() => { killGroup(s, 'SIGKILL') }, graceMs)
    await s.exited
    clearTimeout(timer)
    killGroup(s, 'SIGKILL') // anything it left in its group
  }))
}

/** Signals the server's process group, if it has one of its own. */
export function killGroup (s: ServerProcess, signal: NodeJS.Signals): void {
  if (s.proc.pid === undefined) return
  try { process.kill(-s.proc.pid, signal) } catch { /* no such group: not detached, or gone */ }
}

/** CPU seconds (user + system) a process has used so far, from /proc (NaN where there is none). */
export function cpuSeconds (pid: number): number {
  try {
    // fields after the command's closing parenthesis: state is field 3, utime 14, stime 15 (clock ticks of 1/100 s on Linux)
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ')
    return (Number(fields[11]) + Number(fields[12])) / 100
  } catch {
    return NaN
  }
}

/** Resident memory of a process in MiB (Linux /proc), or NaN if it is gone. */
export function rssMiB (pid: number): number {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))
    return m === null ? NaN : Number(m[1]) / 1024
  } catch {
    return NaN
  }
}

export function tempDir (): { path: string, remove: () => void } {
  const path = mkdtempSync(join(tmpdir(), 'gridllm-swarm-'))
  return { path, remove: () => { rmSync(path, { recursive: true, force: true }) } }
}

/** A swarm server in this process, on loopback, one thread (tests that wrap or inspect a real server). */
export async function serveInProcess (blocks: [number, number], bootstrap: readonly string[] = [], options: Partial<ServeOptions> = {}): Promise<SwarmServer> {
  return await SwarmServer.start({ model: STORIES, blocks, listen: ['/ip4/127.0.0.1/tcp/0'], bootstrap, version: 'test', threads: 1, ...options })
}

/** Greedy token ids of a generation. */
export async function greedyIds (model: { generate: (p: string, o: object) => AsyncIterable<{ id: number }> }, prompt: string, maxTokens: number): Promise<number[]> {
  const ids: number[] = []
  for await (const t of model.generate(prompt, { temperature: 0, maxTokens })) ids.push(t.id)
  return ids
}

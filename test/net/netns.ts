/**
 * Linux network namespaces for tests: real hosts, links and NAT routers on one machine (root and
 * iproute2 needed; nftables for NAT). Every namespace is named gridllm-<tag>-<name>, with a tag
 * unique to this run, and `destroy()` removes them all (and so their links and rules) and kills
 * every process started in them; it also runs when the process exits.
 *
 * The "internet" here is a bridge inside one namespace, with no link to the host's own network, so
 * nothing sent in it can leave the machine. Its addresses are from 11.0.0.0/24, because libp2p
 * treats the documentation ranges (192.0.2.0/24, ...) as private and would not try AutoNAT, relays
 * or hole punching across them.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

export interface NsProcess {
  readonly proc: ChildProcess
  readonly stdout: () => string
  readonly stderr: () => string
  readonly exited: Promise<number | string>
}

/** Why namespaces cannot be made here, or undefined if they can. */
export function netnsUnavailable (): string | undefined {
  if (process.platform !== 'linux') return 'network namespaces need Linux'
  if (process.getuid?.() !== 0) return 'network namespaces need root'
  for (const tool of ['ip', 'nft']) {
    try { execFileSync('sh', ['-c', `command -v ${tool}`], { stdio: 'ignore' }) } catch { return `${tool} is not installed (apt-get install iproute2 nftables)` }
  }
  const probe = `gridllm-probe-${randomBytes(3).toString('hex')}`
  try {
    execFileSync('ip', ['netns', 'add', probe], { stdio: 'pipe' })
    execFileSync('ip', ['netns', 'del', probe], { stdio: 'pipe' })
  } catch (err) {
    return `cannot make a network namespace: ${((err as { stderr?: Buffer }).stderr?.toString() ?? (err as Error).message).trim()}`
  }
  return undefined
}

export class Netns {
  readonly tag = `${process.pid.toString(36)}${randomBytes(2).toString('hex')}`
  private readonly names: string[] = []
  private readonly procs: ChildProcess[] = []
  /** each process's own HOME (so its own default data directory, ~/.gridllm), removed at the end */
  private readonly homes: string[] = []
  private readonly onExit = (): void => { this.destroySync() }

  constructor () {
    process.on('exit', this.onExit)
  }

  /** The full name of namespace `name`. */
  ns (name: string): string {
    return `gridllm-${this.tag}-${name}`
  }

  /** Runs a command inside namespace `name` (or on the host if undefined), feeding it `input`. */
  run (name: string | undefined, args: readonly string[], input?: string): string {
    const argv = name === undefined ? args : ['ip', 'netns', 'exec', this.ns(name), ...args]
    return execFileSync(argv[0]!, argv.slice(1), { input, stdio: ['pipe', 'pipe', 'pipe'] }).toString()
  }

  add (name: string): void {
    this.run(undefined, ['ip', 'netns', 'add', this.ns(name)])
    this.names.push(name)
    this.run(name, ['ip', 'link', 'set', 'lo', 'up'])
  }

  /** A link between two namespaces: interface `ifA` in `a` and `ifB` in `b`. */
  link (a: string, ifA: string, b: string, ifB: string): void {
    this.run(a, ['ip', 'link', 'add', ifA, 'type', 'veth', 'peer', 'name', ifB, 'netns', this.ns(b)])
    this.run(a, ['ip', 'link', 'set', ifA, 'up'])
    this.run(b, ['ip', 'link', 'set', ifB, 'up'])
  }

  addr (name: string, dev: string, cidr: string): void {
    this.run(name, ['ip', 'addr', 'add', cidr, 'dev', dev])
  }

  /**
   * Makes `router` a home router: it forwards between `lan` and `wan`, rewrites outgoing sources to
   * its own (masquerade) and lets in only replies to connections made from inside. Linux NAT keeps
   * one mapping per connection, like most home routers.
   */
  nat (router: string, lan: string, wan: string): void {
    this.run(router, ['sysctl', '-qw', 'net.ipv4.ip_forward=1'])
    this.run(router, ['nft', '-f', '-'], `
table ip gridllm_nat {
  chain masq { type nat hook postrouting priority srcnat; oifname "${wan}" masquerade; }
  chain inbound {
    type filter hook forward priority filter; policy drop;
    ct state established,related accept
    iifname "${lan}" oifname "${wan}" accept
  }
}
`)
  }

  /** Starts a process inside namespace `name`, in a process group of its own, with a HOME of its own. */
  spawn (name: string, command: string, args: readonly string[], env: NodeJS.ProcessEnv = {}): NsProcess {
    const home = mkdtempSync(join(tmpdir(), 'gridllm-ns-home-'))
    this.homes.push(home)
    const proc = spawn('ip', ['netns', 'exec', this.ns(name), command, ...args], { stdio: ['ignore', 'pipe', 'pipe'], detached: true, env: { ...process.env, HOME: home, ...env } })
    this.procs.push(proc)
    let stdout = ''
    let stderr = ''
    proc.stdout!.on('data', (d: Buffer) => { stdout += d.toString() })
    proc.stderr!.on('data', (d: Buffer) => { stderr += d.toString() })
    const exited = new Promise<number | string>(resolve => { proc.on('exit', (code, signal) => { resolve(code ?? signal ?? 'unknown') }) })
    return { proc, stdout: () => stdout, stderr: () => stderr, exited }
  }

  /** Stops every process (SIGTERM, then SIGKILL), then removes every namespace. */
  async destroy (graceMs = 3000): Promise<void> {
    await Promise.all(this.procs.map(async p => {
      if (p.exitCode !== null || p.signalCode !== null) return
      const gone = new Promise(resolve => { p.once('exit', resolve) })
      try { process.kill(-p.pid!, 'SIGTERM') } catch {}
      const timer = setTimeout(() => { try { process.kill(-p.pid!, 'SIGKILL') } catch {} }, graceMs)
      await gone
      clearTimeout(timer)
    }))
    this.destroySync()
  }

  private destroySync (): void {
    for (const p of this.procs) {
      try { process.kill(-p.pid!, 'SIGKILL') } catch {}
    }
    for (const home of this.homes.splice(0)) rmSync(home, { recursive: true, force: true })
    for (const name of this.names.splice(0)) {
      try { execFileSync('ip', ['netns', 'del', this.ns(name)], { stdio: 'ignore' }) } catch {}
    }
    process.off('exit', this.onExit)
  }
}

/** Resolves once `read()` matches `re` (returning the match), or rejects after `ms`. */
export async function waitFor (read: () => string, re: RegExp, ms: number, what: string): Promise<RegExpExecArray> {
  const deadline = Date.now() + ms
  for (;;) {
    const m = re.exec(read())
    if (m !== null) return m
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; it wrote:\n${read()}`)
    await new Promise(resolve => setTimeout(resolve, 100))
  }
}

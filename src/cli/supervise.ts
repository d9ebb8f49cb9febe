/**
 * Child processes that announce themselves: each prints one stdout line `listening <address>` once
 * it is ready (the scripting contract of `gridllm serve` and `gridllm api`). A Supervisor starts
 * them, waits for that line, notices when one dies, and stops them all: SIGTERM, then SIGKILL
 * after a grace period, so no process outlives it. Should the supervisor itself be killed (kill
 * -9 runs no cleanup), each child sees its stdin, a pipe from the supervisor, reach its end and
 * stops too (PARENT_PIPE_ENV; see main.ts).
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { createInterface } from 'node:readline'
import { GridError } from '../util/errors.ts'

const TAIL_LINES = 20

/** Set for a child whose stdin is a pipe from its parent: it stops when the pipe closes. */
export const PARENT_PIPE_ENV = 'GRIDLLM_PARENT_PIPE'

/** A child failed to start or died. */
export class ChildProcessError extends GridError {
  constructor (message: string) {
    super('INTERNAL', message)
    this.name = 'ChildProcessError'
  }
}

export interface ChildSpec {
  /** a short name for messages, e.g. "serve 0:2" */
  name: string
  command: string
  args: readonly string[]
  env?: NodeJS.ProcessEnv
}

export class Child {
  readonly process: ChildProcess
  /** the address from its `listening <address>` line */
  readonly ready: Promise<string>
  /** resolves with the exit code (or signal) when the process is gone */
  readonly exited: Promise<number | NodeJS.Signals>
  /** the last lines it wrote to stderr, for error messages */
  readonly stderrTail: string[] = []

  constructor (readonly spec: ChildSpec) {
    this.process = spawn(spec.command, [...spec.args], { env: { ...(spec.env ?? process.env), [PARENT_PIPE_ENV]: '1' }, stdio: ['pipe', 'pipe', 'pipe'] })
    this.process.stdin!.on('error', () => {}) // a child that died closes its end
    this.exited = new Promise(resolve => this.process.once('exit', (code, signal) => resolve(code ?? signal ?? 0)))
    createInterface({ input: this.process.stderr! }).on('line', line => {
      this.stderrTail.push(line)
      if (this.stderrTail.length > TAIL_LINES) this.stderrTail.shift()
    })
    this.ready = new Promise((resolve, reject) => {
      createInterface({ input: this.process.stdout! }).on('line', line => {
        const m = /^listening (\S+)/.exec(line)
        if (m !== null) resolve(m[1]!)
      })
      this.process.once('error', err => reject(new ChildProcessError(`${spec.name}: cannot start: ${err.message}`)))
      void this.exited.then(code => reject(this.failure(`exited (${code}) before it was ready`)))
    })
    this.ready.catch(() => {}) // observed by whoever awaits it; never an unhandled rejection
  }

  get pid (): number | undefined {
    return this.process.pid
  }

  failure (what: string): ChildProcessError {
    const tail = this.stderrTail.length > 0 ? `:\n  ${this.stderrTail.join('\n  ')}` : ''
    return new ChildProcessError(`${this.spec.name} ${what}${tail}`)
  }

  /** SIGTERM, then SIGKILL after `graceMs`; resolves once the process is gone. */
  async stop (graceMs: number): Promise<void> {
    if (this.process.exitCode !== null || this.process.signalCode !== null) return
    this.process.kill('SIGTERM')
    const timer = setTimeout(() => this.process.kill('SIGKILL'), graceMs)
    await this.exited
    clearTimeout(timer)
  }
}

export class Supervisor {
  readonly children: Child[] = []
  /** rejects with the first child that exits while the supervisor is not stopping it */
  readonly died: Promise<never>
  private reportDeath: (err: ChildProcessError) => void = () => {}
  private stopping = false

  constructor () {
    this.died = new Promise<never>((_resolve, reject) => { this.reportDeath = reject })
    this.died.catch(() => {}) // observed by whoever awaits it
  }

  start (spec: ChildSpec): Child {
    const child = new Child(spec)
    this.children.push(child)
    void child.exited.then(code => { if (!this.stopping) this.reportDeath(child.failure(`exited unexpectedly (${code})`)) })
    return child
  }

  /** Stops every child; resolves when all are gone. */
  async stopAll (graceMs = 5000): Promise<void> {
    this.stopping = true
    await Promise.all(this.children.map(async c => await c.stop(graceMs)))
  }
}

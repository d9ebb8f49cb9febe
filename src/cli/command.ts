import { parseArgs, type ParseArgsConfig } from 'node:util'
import { fileURLToPath } from 'node:url'

/** A subcommand: its help text and what it does. Only cli/ touches process.* */
export interface Command {
  readonly name: string
  readonly summary: string
  readonly usage: string
  run (argv: string[], ctx: CommandContext): Promise<number>
}

export interface CommandContext {
  /** default process.stdin */
  readonly stdin?: NodeJS.ReadableStream
  readonly stdout: NodeJS.WritableStream
  readonly stderr: NodeJS.WritableStream
  readonly env: NodeJS.ProcessEnv
  /** where gridllm.config.json is looked for; default process.cwd() */
  readonly cwd?: string
  /** fires on Ctrl-C / SIGTERM */
  readonly signal: AbortSignal
}

/** Bad flags or arguments: printed with the command's usage, exit status 2. */
export class UsageError extends Error {
  constructor (message: string, readonly usage?: string) {
    super(message)
    this.name = 'UsageError'
  }
}

type Options = NonNullable<ParseArgsConfig['options']>

/** util.parseArgs with errors that point at the command's help. Adds --help. */
export function parse<T extends Options> (argv: string[], options: T, usage: string, allowPositionals = false) {
  try {
    return parseArgs({ args: argv, options: { ...options, help: { type: 'boolean', short: 'h' } }, allowPositionals, strict: true })
  } catch (err) {
    throw new UsageError((err as Error).message.replace(/^TypeError \[[A-Z_]+\]: /, ''), usage)
  }
}

export function int (name: string, value: string | undefined, min = 0): number | undefined {
  if (value === undefined) return undefined
  const n = Number(value)
  if (!Number.isInteger(n) || n < min) throw new UsageError(`--${name} must be an integer >= ${min}, got "${value}"`)
  return n
}

/**
 * Whether a node announces itself on the LAN (mDNS) unless told: yes if it listens beyond loopback
 * (the default listen address does) and the swarm is not private.
 */
export function mdnsByDefault (listen: readonly string[] | undefined, swarmKey: string | undefined): boolean {
  const loopback = (a: string): boolean => a.startsWith('/ip4/127.') || a.startsWith('/ip6/::1/')
  return swarmKey === undefined && (listen === undefined || listen.some(a => !loopback(a)))
}

/** "on" / "off" flags; `fallback` when absent. */
export function onOff (name: string, value: string | undefined, fallback: boolean, usage?: string): boolean {
  if (value === undefined) return fallback
  if (value === 'on' || value === 'off') return value === 'on'
  throw new UsageError(`--${name} must be on or off, got "${value}"`, usage)
}

export function float (name: string, value: string | undefined, min = -Infinity): number | undefined {
  if (value === undefined) return undefined
  const n = Number(value)
  if (value.trim() === '' || !Number.isFinite(n)) throw new UsageError(`--${name} must be a number, got "${value}"`)
  if (n < min) throw new UsageError(`--${name} must be >= ${min}, got "${value}"`)
  return n
}

/** "0:2,2:5" → [[0, 2], [2, 5]] */
export function spans (value: string | undefined): Array<[number, number]> | undefined {
  if (value === undefined) return undefined
  return value.split(',').map(part => {
    const m = /^\s*(\d+)\s*:\s*(\d+)\s*$/.exec(part)
    if (m === null) throw new UsageError(`--spans takes start:end pairs separated by commas (e.g. 0:2,2:5), got "${value}"`)
    return [Number(m[1]), Number(m[2])]
  })
}

/** The version in package.json. */
export { packageVersion } from '../util/version.ts'

/** The project's root folder (where models/ ships). */
export const PACKAGE_ROOT = fileURLToPath(new URL('../..', import.meta.url))
/** The bundled default model. */
export const DEFAULT_MODEL = fileURLToPath(new URL('../../models/stories260K/stories260K.gguf', import.meta.url))

/** Private swarms: `gridllm swarm-key` writes a key; serving and client commands read it. */
import { existsSync, readFileSync, writeFileSync } from 'node:fs'
import { generateSwarmKey, parseSwarmKey } from '../net/index.ts'
import { FileNotFoundError, GridError } from '../util/errors.ts'
import { type Command, type CommandContext, UsageError, parse } from './command.ts'

/** The key file's bytes (checked), or undefined when no file is given. */
export function readSwarmKey (path: string | undefined): Uint8Array | undefined {
  if (path === undefined) return undefined
  if (!existsSync(path)) throw new FileNotFoundError(path)
  const bytes = readFileSync(path)
  parseSwarmKey(bytes)
  return bytes
}

const keyUsage = `Usage: gridllm swarm-key <file>

Writes a new random swarm key to <file> (which must not exist yet). Give the same file to
\`serve\`, \`generate\` and \`status\` with --swarm-key: peers without it cannot connect.
`

export const swarmKeyCommand: Command = {
  name: 'swarm-key',
  summary: 'make a key for a private swarm',
  usage: keyUsage,
  async run (argv: string[], ctx: CommandContext): Promise<number> {
    const { values: v, positionals } = parse(argv, {}, keyUsage, true)
    if (v.help === true) { ctx.stdout.write(keyUsage); return 0 }
    if (positionals.length !== 1) throw new UsageError('give exactly one file to write', keyUsage)
    const path = positionals[0]!
    if (existsSync(path)) throw new GridError('INVALID_ARGUMENT', `${path} already exists; not overwriting a swarm key`)
    writeFileSync(path, generateSwarmKey(), { mode: 0o600 })
    ctx.stderr.write(`gridllm swarm-key: wrote ${path}\n`)
    return 0
  }
}

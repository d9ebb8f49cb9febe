import { existsSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { backendNames } from '../kernels/index.ts'
import { generateSwarmKey, parseSwarmKey } from '../net/index.ts'
import { SwarmServer } from '../swarm/index.ts'
import { FileNotFoundError, GridError } from '../util/errors.ts'
import { type Command, type CommandContext, PACKAGE_ROOT, UsageError, int, parse } from './command.ts'

const usage = `Usage: gridllm serve --model <file|dir> [options]

Joins the swarm and serves a span of the model's blocks to clients. Prints one line
"listening <multiaddr>/p2p/<peer id>" on stdout once online; others bootstrap from it.
Ctrl-C (or SIGTERM) announces the server offline and leaves.

Options:
  -m, --model <file|dir>     the model (GGUF, llama2.c .bin or Hugging Face folder)
      --blocks <a:b|auto>    blocks [a, b) to serve, or auto: the span the swarm needs most
                             (default auto)
      --num-blocks <N>       with --blocks auto: how many blocks to take (default all)
      --listen <multiaddr>   address to listen on, repeatable (default /ip4/0.0.0.0/tcp/0)
      --announce <multiaddr> address to tell others instead (port forwarding), repeatable
      --bootstrap <multiaddr> a peer of the swarm to join through, repeatable
                             (none: start a new swarm)
      --swarm-key <file>     private swarm: only peers with this key can connect
                             (make one with \`gridllm swarm-key <file>\`)
      --name <text>          public name shown in \`gridllm status\`
      --cache-mib <MiB>      KV-cache memory for all sessions (default 1024)
      --max-frame-mib <MiB>  largest hidden-state frame accepted (default 64)
      --announce-period <s>  re-announce every s seconds; records expire after twice that
                             (default 60)
      --rebalance-period <s> with --blocks auto: consider moving every ~s seconds (default 120)
      --backend <name>       ${['auto', ...backendNames].join(' | ')} (default auto)
      --threads <N>          worker threads for the backend (default: cores)
  -h, --help                 show this help
`

export function packageVersion (): string {
  return (JSON.parse(readFileSync(join(PACKAGE_ROOT, 'package.json'), 'utf8')) as { version: string }).version
}

export function readSwarmKey (path: string | undefined): Uint8Array | undefined {
  if (path === undefined) return undefined
  if (!existsSync(path)) throw new FileNotFoundError(path)
  const bytes = readFileSync(path)
  parseSwarmKey(bytes)
  return bytes
}

function parseBlocks (value: string | undefined): readonly [number, number] | 'auto' {
  if (value === undefined || value === 'auto') return 'auto'
  const m = /^(\d+):(\d+)$/.exec(value.trim())
  if (m === null || Number(m[1]) >= Number(m[2])) throw new UsageError(`--blocks takes start:end with start < end, or auto; got "${value}"`, usage)
  return [Number(m[1]), Number(m[2])]
}

/** The address to print: an announced one, else a non-loopback one, else the first. */
function publicAddress (addrs: readonly string[]): string {
  return addrs.find(a => !a.startsWith('/ip4/127.') && !a.startsWith('/ip6/::1/')) ?? addrs[0] ?? ''
}

export const serveCommand: Command = {
  name: 'serve',
  summary: 'serve a span of a model\'s blocks to the swarm',
  usage,
  async run (argv: string[], ctx: CommandContext): Promise<number> {
    const { values: v } = parse(argv, {
      model: { type: 'string', short: 'm' },
      blocks: { type: 'string' },
      'num-blocks': { type: 'string' },
      listen: { type: 'string', multiple: true },
      announce: { type: 'string', multiple: true },
      bootstrap: { type: 'string', multiple: true },
      'swarm-key': { type: 'string' },
      name: { type: 'string' },
      'cache-mib': { type: 'string' },
      'announce-period': { type: 'string' },
      'rebalance-period': { type: 'string' },
      'max-frame-mib': { type: 'string' },
      backend: { type: 'string' },
      threads: { type: 'string' }
    }, usage)
    if (v.help === true) { ctx.stdout.write(usage); return 0 }
    if (v.model === undefined) throw new UsageError('--model is required', usage)
    const backend = v.backend ?? 'auto'
    if (backend !== 'auto' && !(backendNames as readonly string[]).includes(backend)) {
      throw new UsageError(`--backend must be one of auto, ${backendNames.join(', ')}; got "${backend}"`, usage)
    }
    const blocks = parseBlocks(v.blocks)
    const seconds = (name: string, value: string | undefined): number | undefined => {
      const n = int(name, value, 1)
      return n === undefined ? undefined : n * 1000
    }
    const mib = (name: string, value: string | undefined): number | undefined => {
      const n = int(name, value, 1)
      return n === undefined ? undefined : n * 2 ** 20
    }
    const server = await SwarmServer.start({
      model: v.model,
      blocks,
      numBlocks: int('num-blocks', v['num-blocks'], 1),
      listen: v.listen,
      announce: v.announce,
      bootstrap: v.bootstrap,
      swarmKey: readSwarmKey(v['swarm-key']),
      name: v.name,
      backend: backend as 'auto',
      threads: int('threads', v.threads, 1),
      cacheBudgetBytes: mib('cache-mib', v['cache-mib']),
      maxFrameBytes: mib('max-frame-mib', v['max-frame-mib']),
      announcePeriodMs: seconds('announce-period', v['announce-period']),
      rebalancePeriodMs: seconds('rebalance-period', v['rebalance-period']),
      version: packageVersion(),
      signal: ctx.signal,
      onNote: note => { ctx.stderr.write(`gridllm serve: ${note}\n`) }
    })
    ctx.stdout.write(`listening ${publicAddress(server.addresses)}\n`)
    ctx.stderr.write(`gridllm serve: online, model ${server.modelId}, blocks ${server.span[0]}:${server.span[1]}, peer ${server.node.peerId}\n`)
    await new Promise<void>(resolve => {
      if (ctx.signal.aborted) resolve()
      ctx.signal.addEventListener('abort', () => { resolve() }, { once: true })
    })
    ctx.stderr.write('gridllm serve: shutting down\n')
    await server.stop()
    return 0
  }
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

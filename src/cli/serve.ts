import { join } from 'node:path'
import { type ApiServer, localEngine, serveApi } from '../api/index.ts'
import { backendNames } from '../kernels/index.ts'
import type { Model } from '../model/index.ts'
import { SwarmServer } from '../swarm/index.ts'
import { type Command, type CommandContext, UsageError, int, packageVersion, parse } from './command.ts'
import { cacheFolder, isModelId, loadModel } from './load.ts'
import { type Progress, progress } from './progress.ts'
import { readSwarmKey } from './swarm-key.ts'
import { WEB_DIST, browserBootstrap } from './web.ts'

const usage = `Usage: gridllm serve --model <file|dir|model id> [options]

Joins the swarm and serves a span of the model's blocks to clients. Prints one line
"listening <multiaddr>/p2p/<peer id>" on stdout once online; others bootstrap from it.
Ctrl-C (or SIGTERM) announces the server offline and leaves. It also sends the weights it
holds to peers that ask for them.

Options:
  -m, --model <file|dir|id>  the model (GGUF, llama2.c .bin or Hugging Face folder), or a
                             model id (64 hex digits, as \`gridllm status\` shows): then only
                             the span's weights are fetched from peers of the swarm
                             (--bootstrap), checked piece by piece, into the cache folder
      --cache <dir>          where fetched weights are kept (default $GRIDLLM_CACHE, else
                             $XDG_CACHE_HOME/gridllm, else ~/.cache/gridllm); a fetch that
                             stops resumes from there
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
      --api <port>           also serve the HTTP API (OpenAI, Ollama, metrics) and the web page
                             on this port, generating through the swarm (0 = any free port)
      --api-host <host>      address for the API (default 127.0.0.1)
      --api-key <key>        require "Authorization: Bearer <key>" on the API
  -h, --help                 show this help
`

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
      threads: { type: 'string' },
      api: { type: 'string' },
      'api-host': { type: 'string' },
      'api-key': { type: 'string' },
      cache: { type: 'string' }
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
    const byId = isModelId(v.model)
    if (byId && v.bootstrap === undefined) throw new UsageError('--model <model id> fetches the weights from the swarm: give --bootstrap', usage)
    let bar: Progress | undefined
    const server = await SwarmServer.start({
      model: byId ? undefined : v.model,
      modelId: byId ? v.model : undefined,
      cacheDir: join(cacheFolder(v.cache, ctx.env), 'weights'),
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
      onNote: note => { bar?.finish(); bar = undefined; ctx.stderr.write(`gridllm serve: ${note}\n`) },
      onProgress: (done, total) => { (bar ??= progress(ctx.stderr, 'gridllm serve: weights')).update(done, total) }
    })
    bar?.finish()
    let client: { model: Model, api: ApiServer } | undefined
    try {
      ctx.stdout.write(`listening ${publicAddress(server.addresses)}\n`)
      ctx.stderr.write(`gridllm serve: online, model ${server.modelId}, blocks ${server.span[0]}:${server.span[1]}, peer ${server.node.peerId}\n`)
      const apiPort = int('api', v.api, 0)
      if (apiPort !== undefined) {
        // the API is a swarm client like any other, joining through this server
        const { model, name } = await loadModel({
          model: v.model, bootstrap: [...server.addresses, ...(v.bootstrap ?? [])], swarmKey: v['swarm-key'], backend, threads: int('threads', v.threads, 1)
        }, ctx)
        // the page's tabs join through this server itself (it listens on WebSockets and relays)
        const page = { dir: WEB_DIST, version: packageVersion(), bootstrap: async () => await browserBootstrap(server.node, []) }
        const api = await serveApi({ engine: localEngine([{ model, name }]), host: v['api-host'], port: apiPort, apiKey: v['api-key'], page, signal: ctx.signal })
          .catch(async err => { await model.close(); throw err })
        client = { model, api }
        ctx.stderr.write(`gridllm serve: API at ${api.url} (OpenAI ${api.url}/v1, Ollama ${api.url}/api, metrics ${api.url}/metrics)\n`)
        ctx.stderr.write(`gridllm serve: web page (dashboard, chat, donate this tab) at ${api.url}/\n`)
      }
      await new Promise<void>(resolve => {
        if (ctx.signal.aborted) resolve()
        ctx.signal.addEventListener('abort', () => { resolve() }, { once: true })
      })
      ctx.stderr.write('gridllm serve: shutting down\n')
    } finally {
      await client?.api.close()
      await client?.model.close()
      await server.stop()
    }
    return 0
  }
}

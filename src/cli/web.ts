/**
 * `gridllm web`: serves the web page (the browser node and the live dashboard) and runs the native
 * peer the page's tabs join through: a DHT server and relay listening on WebSockets next to the
 * page, itself joined to the swarm through --bootstrap. Also the page's helpers for the commands
 * that serve it next to the API (api --bootstrap, serve --api, demo).
 */
import { join } from 'node:path'
import { type PageOptions, servePage } from '../api/index.ts'
import type { Model } from '../model/index.ts'
import { NetNode } from '../net/index.ts'
import { SwarmExecutor, recordRules } from '../swarm/index.ts'
import { NotReadyError } from '../util/errors.ts'
import { type Command, type CommandContext, PACKAGE_ROOT, UsageError, int, packageVersion, parse } from './command.ts'

export const WEB_DIST = join(PACKAGE_ROOT, 'web', 'dist')

const isWebSockets = (addr: string): boolean => /\/wss?\//.test(addr)

/**
 * The addresses a tab can join through: this node's own WebSockets addresses, then those of the
 * peers it was given (learned when it connected to them).
 */
export async function browserBootstrap (node: NetNode, peers: readonly string[]): Promise<string[]> {
  const own = node.addresses.filter(isWebSockets)
  const theirs = await Promise.all(peers.map(async p => (await node.knownAddresses(p.slice(p.lastIndexOf('/p2p/') + 5))).filter(isWebSockets)))
  return [...new Set([...own, ...peers.filter(isWebSockets), ...theirs.flat()])].filter(a => !a.includes('/p2p-circuit'))
}

/**
 * The page for a swarm model still loading (the API's port opens first): its config answers once
 * `model()` is loaded and runs on the swarm, and says the model is loading until then.
 */
export function lazyPage (model: () => Model | undefined, bootstrap: readonly string[]): PageOptions {
  return {
    dir: WEB_DIST,
    version: packageVersion(),
    bootstrap: async () => {
      const m = model()
      const page = m === undefined ? undefined : pageForModel(m, bootstrap)
      if (page === undefined) throw new NotReadyError(m === undefined ? 'the model is still loading' : 'the model does not run on a swarm')
      return await page.bootstrap()
    }
  }
}

/** The page for a model whose blocks run on the swarm (its client's node knows the swarm), else none. */
export function pageForModel (model: Model, bootstrap: readonly string[]): PageOptions | undefined {
  const swarm = model.executors.find((e): e is SwarmExecutor => e instanceof SwarmExecutor)
  if (swarm === undefined) return undefined
  return { dir: WEB_DIST, version: packageVersion(), bootstrap: async () => await browserBootstrap(swarm.client.node, bootstrap) }
}

const usage = `Usage: gridllm web --bootstrap <multiaddr> [options]

Serves the web page: a live dashboard of the swarm (models, a blocks x servers coverage map,
platforms, throughput, sessions, round trips), a chat that generates through the swarm from the
tab, and "Donate this tab", which serves a span of blocks from the browser. Also runs the native
peer the page's tabs join through (WebSockets, relay), itself joined through --bootstrap.
Prints "listening <url>" on stdout once the page is served; Ctrl-C stops it.

Query parameters: ?serve=<start:end|auto> serves without a click, &bootstrap=<multiaddr>
joins elsewhere, ?prompt=<text>&n=<tokens>&temperature=0 generates once into #output.

Options:
      --bootstrap <multiaddr> a peer of the swarm, repeatable (required)
      --host <host>          address for the page and its peer (default 127.0.0.1)
      --port <N>             the page's port (default 8090; 0 = any free port)
      --ws-port <N>          the peer's WebSockets port (default 0: any free port)
  -h, --help                 show this help

The page needs a secure context: open it on localhost, 127.0.0.1 or over HTTPS.
`

export const webCommand: Command = {
  name: 'web',
  summary: 'serve the web page: dashboard, chat, and "Donate this tab"',
  usage,
  async run (argv: string[], ctx: CommandContext): Promise<number> {
    const { values: v } = parse(argv, {
      bootstrap: { type: 'string', multiple: true },
      host: { type: 'string' },
      port: { type: 'string' },
      'ws-port': { type: 'string' }
    }, usage)
    if (v.help === true) { ctx.stdout.write(usage); return 0 }
    if (v.bootstrap === undefined) throw new UsageError('--bootstrap is required (the address a server printed)', usage)
    const host = v.host ?? '127.0.0.1'
    const ip = host.includes(':') ? `/ip6/${host}` : /^[\d.]+$/.test(host) ? `/ip4/${host}` : `/dns/${host}`
    const node = await NetNode.create({
      listen: [`${ip}/tcp/${int('ws-port', v['ws-port'], 0) ?? 0}/ws`],
      bootstrap: v.bootstrap,
      dhtServer: true,
      relay: true,
      records: recordRules,
      signal: ctx.signal
    })
    try {
      const page = await servePage({ dir: WEB_DIST, host, port: int('port', v.port, 0) ?? 8090, version: packageVersion(), bootstrap: async () => await browserBootstrap(node, v.bootstrap!) })
      ctx.stdout.write(`listening ${page.url}\n`)
      ctx.stderr.write(`gridllm web: the page is at ${page.url}/ ; tabs join through ${node.addresses.join(', ')}\n`)
      await new Promise<void>(resolve => {
        if (ctx.signal.aborted) resolve()
        else ctx.signal.addEventListener('abort', () => resolve(), { once: true })
      })
      await page.close()
    } finally {
      await node.stop()
    }
    return 0
  }
}

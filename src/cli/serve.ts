import { join } from 'node:path'
import { type ApiServer, localEngine, serveApi } from '../api/index.ts'
import { backendNames } from '../kernels/index.ts'
import { DEFAULT_MAX_CHUNK, type Model } from '../model/index.ts'
import { type Ledger, MICRO, formatCredits, serverCredits } from '../ledger/index.ts'
import { SwarmServer } from '../swarm/index.ts'
import { dataDir, keyFile, lockDataDir } from './data-dir.ts'
import { type Command, type CommandContext, UsageError, float, int, mdnsByDefault, onOff, packageVersion, parse } from './command.ts'
import { GRANT_BITS, cacheFolder, isModelId, loadModel, warnIfRef } from './load.ts'
import { type Progress, progress } from './progress.ts'
import { readSwarmKey } from './swarm-key.ts'
import { VERIFY_MODES, type VerifyMode } from '../verify/index.ts'
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
      --mdns <on|off>        find and be found by peers on the LAN, no --bootstrap needed
                             (default on, but off with --swarm-key or when listening on
                             loopback only)
      --relay-service <auto|on|off>
                             relay for servers behind NAT: auto = while AutoNAT finds this
                             server reachable from the internet (default auto). Behind NAT,
                             a server reserves a slot on a relay by itself and announces it
      --name <text>          public name shown in \`gridllm status\`
      --cache-mib <MiB>      KV-cache memory for all sessions (default 1024)
      --max-frame-mib <MiB>  largest hidden-state frame accepted (default 64)
      --announce-period <s>  re-announce every s seconds; records expire after twice that
                             (default 60)
      --rebalance-period <s> with --blocks auto: consider moving every ~s seconds (default 120)
      --batch-rows <N>       rows one forward may carry: steps of concurrent sessions run
                             together, one read of the weights for all (1 = no batching;
                             default and at most 64)
      --batch-wait-ms <ms>   the longest a step waits for other busy sessions' steps to join
                             its batch (0 = never; default 1); a lone session never waits

Limits (what strangers may hold; each peer is bounded so none can lock the server up):
      --max-sessions <N>     sessions open at once, all peers together (default 1024)
      --max-sessions-per-peer <N>
                             sessions one peer may hold (default 64)
      --peer-cache-share <F> share of the KV cache one peer may hold, 0 < F <= 1 (default 0.5)
      --max-queued-steps <N> steps one peer may have waiting; compute is shared out in turns
                             between peers (default 64)
      --session-idle <s>     close a session idle for s seconds (default 120)
      --max-connections <N>  connections kept open; past it the idlest are closed (default 256)
      --max-streams <N>      streams one connection may have open (default 256)
      --peer-buffer-mib <MiB> bytes of unfinished messages one peer may hold
                             (default twice the largest frame)

      --backend <name>       ${['auto', ...backendNames].join(' | ')} (default auto)
      --threads <N>          worker threads for the backend (default: cores)
      --api <port>           also serve the HTTP API (OpenAI, Ollama, metrics) and the web page
                             on this port, generating through the swarm (0 = any free port)
      --api-host <host>      address for the API (default 127.0.0.1)
      --api-key <key>        require "Authorization: Bearer <key>" on the API
      --verify <mode>        for the API's requests: off, sample (default) or strict
      --data-dir <dir>       this node's key (the same peer after a restart), its ledger and what it
                             learns of other servers (default ~/.gridllm); one serve at a time each
      --api-cors <origins>   origins browsers may call the API from (default: localhost ones)
      --api-allowed-hosts <names> without --api-key, host names the API answers besides
                             IP addresses and localhost

Credits (donors earn for verified work; docs/credits.md):
      --credits <on|off>     charge for the work served (on, the default) or serve for free (off)
      --price <N>            micro-credits per token per block served (default 10)
      --pay-threshold <C>    credits a consumer may owe unsettled before it should settle (default 1);
                             past 1.5 times that this server stops computing for it
  -h, --help                 show this help
`

function parseBlocks (value: string | undefined): readonly [number, number] | 'auto' {
  if (value === undefined || value === 'auto') return 'auto'
  const m = /^(\d+):(\d+)$/.exec(value.trim())
  if (m === null || Number(m[1]) >= Number(m[2])) throw new UsageError(`--blocks takes start:end with start < end, or auto; got "${value}"`, usage)
  return [Number(m[1]), Number(m[2])]
}

function verifyMode (value: string | undefined): VerifyMode | undefined {
  if (value !== undefined && !(VERIFY_MODES as readonly string[]).includes(value)) throw new UsageError(`--verify must be one of ${VERIFY_MODES.join(', ')}; got "${value}"`, usage)
  return value as VerifyMode | undefined
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
      mdns: { type: 'string' },
      'relay-service': { type: 'string' },
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
      verify: { type: 'string' },
      'data-dir': { type: 'string' },
      credits: { type: 'string' },
      price: { type: 'string' },
      'pay-threshold': { type: 'string' },
      'max-sessions': { type: 'string' },
      'max-sessions-per-peer': { type: 'string' },
      'peer-cache-share': { type: 'string' },
      'max-queued-steps': { type: 'string' },
      'batch-rows': { type: 'string' },
      'batch-wait-ms': { type: 'string' },
      'session-idle': { type: 'string' },
      'max-connections': { type: 'string' },
      'max-streams': { type: 'string' },
      'peer-buffer-mib': { type: 'string' },
      'api-cors': { type: 'string' },
      'api-allowed-hosts': { type: 'string' },
      cache: { type: 'string' }
    }, usage)
    if (v.help === true) { ctx.stdout.write(usage); return 0 }
    if (v.model === undefined) throw new UsageError('--model is required', usage)
    const backend = v.backend ?? 'auto'
    if (backend !== 'auto' && !(backendNames as readonly string[]).includes(backend)) {
      throw new UsageError(`--backend must be one of auto, ${backendNames.join(', ')}; got "${backend}"`, usage)
    }
    warnIfRef(backend, ctx)
    const blocks = parseBlocks(v.blocks)
    const seconds = (name: string, value: string | undefined): number | undefined => {
      const n = int(name, value, 1)
      return n === undefined ? undefined : n * 1000
    }
    const mib = (name: string, value: string | undefined): number | undefined => {
      const n = int(name, value, 1)
      return n === undefined ? undefined : n * 2 ** 20
    }
    const verify = verifyMode(v.verify)
    const batchRows = int('batch-rows', v['batch-rows'], 1)
    if (batchRows !== undefined && batchRows > DEFAULT_MAX_CHUNK) throw new UsageError(`--batch-rows must be at most ${DEFAULT_MAX_CHUNK}, got ${batchRows}`, usage)
    if (v.credits !== undefined && v.credits !== 'on' && v.credits !== 'off') throw new UsageError(`--credits must be on or off; got "${v.credits}"`, usage)
    const charging = v.credits !== 'off'
    const threshold = float('pay-threshold', v['pay-threshold'])
    if (threshold !== undefined && !(threshold > 0)) throw new UsageError(`--pay-threshold must be a number above 0, got "${v['pay-threshold']}"`, usage)
    const share = float('peer-cache-share', v['peer-cache-share'])
    if (share !== undefined && !(share > 0 && share <= 1)) throw new UsageError(`--peer-cache-share must be a number above 0 and at most 1, got "${v['peer-cache-share']}"`, usage)
    const relayService = v['relay-service'] ?? 'auto'
    if (relayService !== 'auto' && relayService !== 'on' && relayService !== 'off') throw new UsageError(`--relay-service must be auto, on or off; got "${relayService}"`, usage)
    const mdns = onOff('mdns', v.mdns, mdnsByDefault(v.listen, v['swarm-key']), usage)
    const byId = isModelId(v.model)
    if (byId && v.bootstrap === undefined) throw new UsageError('--model <model id> fetches the weights from the swarm: give --bootstrap', usage)
    const dir = dataDir(v['data-dir'], ctx.env)
    const unlock = lockDataDir(dir)
    let ledger: Ledger | undefined
    let bar: Progress | undefined
    const server = await SwarmServer.start({
      model: byId ? undefined : v.model,
      modelId: byId ? v.model : undefined,
      cacheDir: join(cacheFolder(v.cache, ctx.env), 'weights'),
      keyFile: keyFile(dir),
      credits: charging
        ? serverCredits({ dataDir: dir, grantBits: GRANT_BITS, policy: { price: int('price', v.price), payThreshold: threshold === undefined ? undefined : Math.round(threshold * MICRO) }, onLedger: l => { ledger = l } })
        : undefined,
      blocks,
      numBlocks: int('num-blocks', v['num-blocks'], 1),
      listen: v.listen,
      announce: v.announce,
      bootstrap: v.bootstrap,
      swarmKey: readSwarmKey(v['swarm-key']),
      mdns,
      relayService,
      name: v.name,
      backend: backend as 'auto',
      threads: int('threads', v.threads, 1),
      cacheBudgetBytes: mib('cache-mib', v['cache-mib']),
      maxFrameBytes: mib('max-frame-mib', v['max-frame-mib']),
      batch: { maxRows: batchRows, waitMs: float('batch-wait-ms', v['batch-wait-ms'], 0) },
      limits: {
        maxSessions: int('max-sessions', v['max-sessions'], 1),
        maxSessionsPerPeer: int('max-sessions-per-peer', v['max-sessions-per-peer'], 1),
        peerCacheShare: share,
        maxQueuedStepsPerPeer: int('max-queued-steps', v['max-queued-steps'], 1),
        sessionIdleMs: seconds('session-idle', v['session-idle']),
        maxConnections: int('max-connections', v['max-connections'], 1),
        maxStreamsPerConnection: int('max-streams', v['max-streams'], 1),
        maxBufferedBytesPerPeer: mib('peer-buffer-mib', v['peer-buffer-mib'])
      },
      announcePeriodMs: seconds('announce-period', v['announce-period']),
      rebalancePeriodMs: seconds('rebalance-period', v['rebalance-period']),
      version: packageVersion(),
      signal: ctx.signal,
      onNote: note => { bar?.finish(); bar = undefined; ctx.stderr.write(`gridllm serve: ${note}\n`) },
      onProgress: (done, total) => { (bar ??= progress(ctx.stderr, 'gridllm serve: weights')).update(done, total) }
    }).catch(err => { unlock(); throw err })
    bar?.finish()
    let client: { model: Model, api: ApiServer } | undefined
    try {
      ctx.stdout.write(`listening ${publicAddress(server.addresses)}\n`)
      ctx.stderr.write(`gridllm serve: online, model ${server.modelId}, blocks ${server.span[0]}:${server.span[1]}, peer ${server.node.peerId}\n`)
      if (ledger !== undefined) ctx.stderr.write(`gridllm serve: charging ${server.credits!.price} µcr per block-token; balance ${formatCredits(ledger.balance)} credits (data in ${dir})\n`)
      const apiPort = int('api', v.api, 0)
      if (apiPort !== undefined) {
        // the API is a swarm client like any other, joining through this server
        const { model, name } = await loadModel({
          model: v.model, bootstrap: [...server.addresses, ...(v.bootstrap ?? [])], swarmKey: v['swarm-key'], backend, threads: int('threads', v.threads, 1),
          verify, dataDir: dir, credits: charging ? 'on' : 'off', cache: v.cache
        }, ctx, { ledger })
        const account = ledger // the server's own: what its spans earn and what its API spends
        const names = (value: string | undefined): string[] | undefined => value?.split(/[\s,]+/).filter(s => s !== '')
        // the page's tabs join through this server itself (it listens on WebSockets and relays)
        const page = { dir: WEB_DIST, version: packageVersion(), bootstrap: async () => await browserBootstrap(server.node, []) }
        const api = await serveApi({
          engine: localEngine([{ model, name }]), host: v['api-host'], port: apiPort, apiKey: v['api-key'],
          cors: names(v['api-cors']), allowedHosts: names(v['api-allowed-hosts']), page, signal: ctx.signal,
          credits: account === undefined ? undefined : () => ({ ...account.summary(), price: server.credits?.price })
        })
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
      unlock()
    }
    return 0
  }
}

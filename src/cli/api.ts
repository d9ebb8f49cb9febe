import { deferredEngine, localEngine, serveApi } from '../api/index.ts'
import type { Model } from '../model/index.ts'
import type { Ledger } from '../ledger/index.ts'
import { type Command, type CommandContext, parse } from './command.ts'
import { loadConfig } from './config.ts'
import { loadModel } from './load.ts'
import { SPECULATE_FLAGS, speculateUsage } from './speculate.ts'
import { lazyPage } from './web.ts'

const usage = `Usage: gridllm api [options]

Serves a model over HTTP: OpenAI-compatible routes (/v1/chat/completions, /v1/completions,
/v1/responses, /v1/embeddings, /v1/models), Ollama's (/api/chat, /api/generate, /api/embed,
/api/tags, /api/show, /api/ps, /api/version), Prometheus metrics (/metrics) and GET /health.
The port opens at once (/health answers 503 while the model loads); "listening <url>" is printed
on stdout once the model is loaded and requests are served. Ctrl-C stops it.

Options:
  -m, --model <file|dir>     GGUF file, llama2.c .bin, or Hugging Face folder
                             (default: the bundled stories260K)
      --name <id>            the model's id in the API (default: the file name)
      --host <host>          address to listen on (default 127.0.0.1)
      --port <N>             port (default 8080; 0 = any free port)
      --api-key <key>        require "Authorization: Bearer <key>"
      --cors <origins>       origins browsers may call from (comma list, or *;
                             default: http(s)://localhost, 127.0.0.1 and [::1], any port)
      --allowed-hosts <names> without --api-key, host names answered besides IP addresses
                             and localhost (comma list, or *; guards against DNS rebinding)
      --max-concurrency <N>  generations running at once (default 4)
      --max-queue <N>        requests waiting for a slot; more get 429 (default 512)
      --bootstrap <addr>     run the model's blocks on the swarm this peer belongs to (repeatable);
                             --model then only supplies tokenizer, embedding and head, and
                             the web page (dashboard, chat, donate this tab) is served at /
      --swarm-key <file>     the private swarm's key (with --bootstrap)
      --verify <mode>        with --bootstrap: off, sample (audit a sample of every server's work,
                             the default) or strict (every step also run by a second server)
      --wire <f32|f16|i8>    with --bootstrap: hidden states on the wire as f32 (default), f16 (half
                             the bytes) or i8 with a scale per row (about a quarter)
      --data-dir <dir>       with --bootstrap: the account that pays for the swarm's work (its key and
                             ledger) and what this node learns of servers (default ~/.gridllm)
      --credits <on|off>     with --bootstrap: pay servers that charge (on, the default) or use only
                             free ones (off)
${speculateUsage(29).trimEnd()}
      --backend <name>       compute backend (default auto)
      --threads <N>          worker threads for the backend
      --config <file>        config file (default ./gridllm.config.json)
  -h, --help                 show this help

Every option can also come from gridllm.config.json or a GRIDLLM_* variable (see the README).
`

export const API_FLAGS = {
  model: { type: 'string', short: 'm' },
  host: { type: 'string' },
  port: { type: 'string' },
  'api-key': { type: 'string' },
  'max-concurrency': { type: 'string' },
  'max-queue': { type: 'string' },
  cors: { type: 'string' },
  'allowed-hosts': { type: 'string' },
  bootstrap: { type: 'string', multiple: true },
  'swarm-key': { type: 'string' },
  backend: { type: 'string' },
  threads: { type: 'string' },
  verify: { type: 'string' },
  wire: { type: 'string' },
  'data-dir': { type: 'string' },
  credits: { type: 'string' },
  config: { type: 'string' },
  ...SPECULATE_FLAGS
} as const


export const apiCommand: Command = {
  name: 'api',
  summary: 'serve a model over an OpenAI- and Ollama-compatible HTTP API',
  usage,
  async run (argv: string[], ctx: CommandContext): Promise<number> {
    const { values: v } = parse(argv, { ...API_FLAGS, name: { type: 'string' } }, usage)
    if (v.help === true) { ctx.stdout.write(usage); return 0 }
    const config = loadConfig({
      flags: {
        model: v.model, host: v.host, port: v.port, apiKey: v['api-key'], maxConcurrency: v['max-concurrency'],
        maxQueue: v['max-queue'], bootstrap: v.bootstrap, swarmKey: v['swarm-key'], backend: v.backend, threads: v.threads,
        verify: v.verify, dataDir: v['data-dir'], credits: v.credits, speculate: v.speculate, draft: v.draft, wire: v.wire,
        cors: v.cors, allowedHosts: v['allowed-hosts']
      },
      configFile: v.config,
      env: ctx.env,
      cwd: ctx.cwd ?? process.cwd()
    })
    // the port opens first, so /health can say the model is loading
    const pending = deferredEngine()
    let model: Model | undefined
    let account: Ledger | undefined // the account paying the swarm's servers, once open
    const page = config.bootstrap.length > 0 ? lazyPage(() => model, config.bootstrap) : undefined
    const server = await serveApi({ engine: pending.engine, ...config, page, signal: ctx.signal, credits: () => account?.summary() })
    let close = async (): Promise<void> => {}
    try {
      const loaded = await loadModel(config, ctx, { usage, onLedger: l => { account = l } })
      model = loaded.model
      close = loaded.close
      const engine = localEngine([{ model: loaded.model, name: v.name ?? loaded.name }])
      pending.ready(engine)
      ctx.stdout.write(`listening ${server.url}\n`)
      const names = engine.models().map(m => m.name).join(', ')
      ctx.stderr.write(`serving ${names}: OpenAI API at ${server.url}/v1, Ollama API at ${server.url}/api, metrics at ${server.url}/metrics\n`)
      if (page !== undefined) ctx.stderr.write(`web page (dashboard, chat, donate this tab) at ${server.url}/\n`)
      await new Promise<void>(resolve => {
        if (ctx.signal.aborted) resolve()
        else ctx.signal.addEventListener('abort', () => resolve(), { once: true })
      })
    } finally {
      await server.close()
      await close()
    }
    return 0
  }
}

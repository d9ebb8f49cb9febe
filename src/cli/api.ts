import { type Engine, type PageOptions, localEngine, serveApi } from '../api/index.ts'
import { type Command, type CommandContext, parse } from './command.ts'
import { type Config, loadConfig } from './config.ts'
import { loadModel } from './load.ts'
import { pageForModel } from './web.ts'

const usage = `Usage: gridllm api [options]

Serves a model over HTTP: OpenAI-compatible routes (/v1/chat/completions, /v1/completions,
/v1/models), Ollama's (/api/chat, /api/generate, /api/tags) and Prometheus metrics (/metrics).
Prints "listening <url>" on stdout once it accepts requests; Ctrl-C stops it.

Options:
  -m, --model <file|dir>     GGUF file, llama2.c .bin, or Hugging Face folder
                             (default: the bundled stories260K)
      --name <id>            the model's id in the API (default: the file name)
      --host <host>          address to listen on (default 127.0.0.1)
      --port <N>             port (default 8080; 0 = any free port)
      --api-key <key>        require "Authorization: Bearer <key>"
      --max-concurrency <N>  generations running at once (default 4)
      --max-queue <N>        requests waiting for a slot; more get 429 (default 16)
      --bootstrap <addr>     run the model's blocks on the swarm this peer belongs to (repeatable);
                             --model then only supplies tokenizer, embedding and head, and
                             the web page (dashboard, chat, donate this tab) is served at /
      --swarm-key <file>     the private swarm's key (with --bootstrap)
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
  bootstrap: { type: 'string', multiple: true },
  'swarm-key': { type: 'string' },
  backend: { type: 'string' },
  threads: { type: 'string' },
  config: { type: 'string' }
} as const

/** The engine the API generates with: the model, in this process or on the swarm (--bootstrap). */
async function openEngine (config: Config, name: string | undefined, ctx: CommandContext): Promise<{ engine: Engine, page: PageOptions | undefined, close: () => Promise<void> }> {
  const loaded = await loadModel(config, ctx)
  return {
    engine: localEngine([{ model: loaded.model, name: name ?? loaded.name }]),
    page: pageForModel(loaded.model, config.bootstrap),
    close: async () => await loaded.model.close()
  }
}

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
        maxQueue: v['max-queue'], bootstrap: v.bootstrap, swarmKey: v['swarm-key'], backend: v.backend, threads: v.threads
      },
      configFile: v.config,
      env: ctx.env,
      cwd: ctx.cwd ?? process.cwd()
    })
    const { engine, page, close } = await openEngine(config, v.name, ctx)
    try {
      const server = await serveApi({ engine, ...config, page, signal: ctx.signal })
      ctx.stdout.write(`listening ${server.url}\n`)
      const names = engine.models().map(m => m.name).join(', ')
      ctx.stderr.write(`serving ${names}: OpenAI API at ${server.url}/v1, Ollama API at ${server.url}/api, metrics at ${server.url}/metrics\n`)
      if (page !== undefined) ctx.stderr.write(`web page (dashboard, chat, donate this tab) at ${server.url}/\n`)
      await new Promise<void>(resolve => {
        if (ctx.signal.aborted) resolve()
        else ctx.signal.addEventListener('abort', () => resolve(), { once: true })
      })
      await server.close()
    } finally {
      await close()
    }
    return 0
  }
}

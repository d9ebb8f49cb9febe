import { join } from 'node:path'
import { openModel } from '../model/index.ts'
import { AbortError, InvalidArgumentError } from '../util/errors.ts'
import { ApiClient } from './client.ts'
import { type Command, type CommandContext, DEFAULT_MODEL, PACKAGE_ROOT, int, parse } from './command.ts'
import { loadConfig } from './config.ts'
import { dataDir } from './data-dir.ts'
import { Supervisor } from './supervise.ts'

const usage = `Usage: gridllm demo [options]

Runs a whole swarm on this machine: span servers for the model (separate processes on loopback,
each serving a part of its layers), the API in front of them, then prints the URLs and streams a
sample generation. Runs until Ctrl-C, which stops every process.

Options:
  -m, --model <file>       model to split (default: the bundled stories260K)
      --servers <N>        span servers (default 3)
      --host <host>        API address (default 127.0.0.1)
      --port <N>           API port (default 8080; 0 = any free port)
  -p, --prompt <text>      sample prompt (default "Once upon a time")
      --data-dir <dir>     where the servers keep their keys and ledgers, in demo/server-<i>;
                           the API pays from this directory's account (default ~/.gridllm)
      --config <file>      config file (default ./gridllm.config.json)
  -h, --help               show this help
`

const BIN = join(PACKAGE_ROOT, 'bin', 'gridllm.mjs')
const LOOPBACK = '/ip4/127.0.0.1/tcp/0'

/** nLayers split into `n` consecutive spans as even as can be: 5 over 3 → 0:2, 2:4, 4:5. */
export function splitLayers (nLayers: number, n: number): Array<[number, number]> {
  if (!Number.isInteger(n) || n < 1 || n > nLayers) throw new InvalidArgumentError(`cannot split ${nLayers} layers over ${n} servers`)
  const spans: Array<[number, number]> = []
  for (let i = 0, start = 0; i < n; i++) {
    const size = Math.floor(nLayers / n) + (i < nLayers % n ? 1 : 0)
    spans.push([start, start + size])
    start += size
  }
  return spans
}

/** Resolves with `p`, or rejects when a child dies or Ctrl-C is pressed first. */
async function until<T> (p: Promise<T>, supervisor: Supervisor, signal: AbortSignal): Promise<T> {
  let onAbort = (): void => {}
  const aborted = new Promise<never>((_resolve, reject) => {
    onAbort = () => reject(new AbortError('interrupted'))
    if (signal.aborted) onAbort()
    else signal.addEventListener('abort', onAbort, { once: true })
  })
  try {
    return await Promise.race([p, supervisor.died, aborted])
  } finally {
    signal.removeEventListener('abort', onAbort)
  }
}

export const demoCommand: Command = {
  name: 'demo',
  summary: 'start a local swarm of span servers and the API, and show it generating',
  usage,
  async run (argv: string[], ctx: CommandContext): Promise<number> {
    const { values: v } = parse(argv, {
      model: { type: 'string', short: 'm' },
      servers: { type: 'string' },
      host: { type: 'string' },
      port: { type: 'string' },
      prompt: { type: 'string', short: 'p' },
      'data-dir': { type: 'string' },
      config: { type: 'string' }
    }, usage)
    if (v.help === true) { ctx.stdout.write(usage); return 0 }
    const config = loadConfig({ flags: { model: v.model, host: v.host, port: v.port, dataDir: v['data-dir'] }, configFile: v.config, env: ctx.env, cwd: ctx.cwd ?? process.cwd() })
    const home = dataDir(config.dataDir, ctx.env)
    const model = config.model ?? DEFAULT_MODEL
    const { config: modelConfig } = await openModel(model, { signal: ctx.signal })
    const spans = splitLayers(modelConfig.nLayers, int('servers', v.servers, 1) ?? 3)
    const gridllm = (name: string, args: string[]): { name: string, command: string, args: string[], env: NodeJS.ProcessEnv } =>
      ({ name, command: process.execPath, args: [BIN, ...args], env: ctx.env })
    const serve = (span: [number, number], bootstrap: string[]): ReturnType<typeof gridllm> =>
      gridllm(`span server ${span[0]}:${span[1]}`, ['serve', '--model', model, '--blocks', `${span[0]}:${span[1]}`, '--listen', LOOPBACK,
        '--data-dir', join(home, 'demo', `server-${spans.indexOf(span)}`), ...bootstrap.flatMap(a => ['--bootstrap', a])])

    const supervisor = new Supervisor()
    try {
      // the first server is everyone's bootstrap peer
      const first = await until(supervisor.start(serve(spans[0]!, [])).ready, supervisor, ctx.signal)
      const rest = await until(Promise.all(spans.slice(1).map(async s => await supervisor.start(serve(s, [first])).ready)), supervisor, ctx.signal)
      const peers = [first, ...rest]
      spans.forEach(([a, b], i) => ctx.stdout.write(`span server for layers ${a}:${b}  ${peers[i]}\n`))
      const url = await until(supervisor.start(gridllm('api', [
        'api', '--model', model, ...peers.flatMap(a => ['--bootstrap', a]), '--host', config.host, '--port', String(config.port), '--data-dir', home
      ])).ready, supervisor, ctx.signal)
      ctx.stdout.write(`\nAPI            ${url}\nOpenAI API     ${url}/v1   (e.g. new OpenAI({ baseURL: '${url}/v1', apiKey: 'none' }))\n` +
        `Ollama API     ${url}/api\nmetrics        ${url}/metrics\nweb page       ${url}/   (the swarm live, chat, donate a tab)\n` +
        `chat           npx gridllm chat --api ${url}\n\n`)

      const client = new ApiClient(url, config.apiKey)
      const prompt = v.prompt ?? 'Once upon a time'
      ctx.stdout.write(prompt)
      type Chunk = { choices: Array<{ text: string }> }
      const sample = client.stream<Chunk>('/v1/completions', { model: await client.firstModel(), prompt, max_tokens: 64, temperature: 0.7 }, { signal: ctx.signal })
      await until((async () => { for await (const chunk of sample) ctx.stdout.write(chunk.choices[0]?.text ?? '') })(), supervisor, ctx.signal)
      ctx.stdout.write('\n\nThe swarm is running; Ctrl-C stops it.\n')
      await until(new Promise<never>(() => {}), supervisor, ctx.signal).catch(err => { if (!ctx.signal.aborted) throw err })
    } finally {
      await supervisor.stopAll()
    }
    ctx.stderr.write('stopped every process\n')
    return 0
  }
}

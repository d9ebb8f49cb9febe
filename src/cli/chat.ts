import { createInterface } from 'node:readline'
import { type ChatMessage, type FinishReason, renderChat } from '../model/index.ts'
import { ApiClient } from './client.ts'
import { type Command, type CommandContext, UsageError, float, int, parse } from './command.ts'
import { SPECULATE_FLAGS, speculateUsage } from './speculate.ts'
import { type Config, loadConfig } from './config.ts'
import { loadModel } from './load.ts'

const usage = `Usage: gridllm chat [options]

Chats with a model in the terminal; replies stream as they are generated. Each line you type
(or pipe in) is one message; in the chat, /reset forgets the conversation and /exit leaves.

Options:
      --api <url>            chat through an API server (gridllm api, or any OpenAI-compatible
                             one), e.g. http://127.0.0.1:8080
      --api-model <id>       the model on that server (default: the first it lists)
      --api-key <key>        the server's API key
  -m, --model <file|dir>     chat with a local model (default: the bundled stories260K)
      --bootstrap <addr>     run that model's blocks on the swarm this peer belongs to (repeatable)
      --swarm-key <file>     the private swarm's key (with --bootstrap)
      --verify <mode>        with --bootstrap: off, sample (default) or strict (see gridllm api --help)
      --wire <f32|f16|i8>    with --bootstrap: hidden states on the wire (default f32; see gridllm api --help)
      --data-dir <dir>       with --bootstrap: the account that pays for the swarm's work (its key and
                             ledger) and what this node learns of servers (default ~/.gridllm)
      --credits <on|off>     with --bootstrap: pay servers that charge (on, the default) or use only
                             free ones (off)
      --system <text>        a system message to start the conversation with
  -t, --temperature <T>      0 = greedy (default 0.7)
      --top-p <P>            default 0.95
  -n, --max-tokens <N>       longest reply in tokens (default 256)
  -s, --seed <S>             sampling seed (default: random)
${speculateUsage(29).trimEnd()}
      --backend <name>       compute backend for a local model (default auto)
      --threads <N>          worker threads for a local model
      --config <file>        config file (default ./gridllm.config.json)
  -h, --help                 show this help
`

interface Sampling {
  temperature: number
  topP: number
  maxTokens: number
  seed: number | undefined
}

/** Where replies come from: a local model or an API server. */
interface ChatBackend {
  /** Streams the reply to `messages` through onText; returns why it ended. */
  reply (messages: readonly ChatMessage[], onText: (text: string) => void, signal: AbortSignal): Promise<FinishReason | undefined>
  close (): Promise<void>
}

async function localBackend (ctx: CommandContext, config: Config, s: Sampling): Promise<ChatBackend> {
  const { model, close } = await loadModel(config, ctx, { usage })
  return {
    async reply (messages, onText, signal) {
      const chat = renderChat(model, messages)
      // the same sampling as the API's OpenAI routes: temperature and top-p only
      const gen = model.generate(chat.text, {
        addBos: chat.addBos, stop: chat.stop, temperature: s.temperature, topP: s.topP, topK: 0, minP: 0, maxTokens: s.maxTokens, seed: s.seed, signal
      })
      for await (const token of gen) onText(token.text)
      return gen.finishReason
    },
    close
  }
}

async function apiBackend (client: ApiClient, apiModel: string | undefined, s: Sampling, signal: AbortSignal): Promise<ChatBackend> {
  const model = apiModel ?? await client.firstModel({ signal })
  return {
    async reply (messages, onText, sig) {
      type Chunk = { choices: Array<{ delta?: { content?: string }, finish_reason?: FinishReason | null }> }
      const body = { model, messages, temperature: s.temperature, top_p: s.topP, max_tokens: s.maxTokens, seed: s.seed }
      let finish: FinishReason | undefined
      for await (const chunk of client.stream<Chunk>('/v1/chat/completions', body, { signal: sig })) {
        const choice = chunk.choices[0]
        if (choice?.delta?.content !== undefined) onText(choice.delta.content)
        finish = choice?.finish_reason ?? finish
      }
      return finish
    },
    close: async () => {}
  }
}

export const chatCommand: Command = {
  name: 'chat',
  summary: 'chat with a model in the terminal (local, or through an API server)',
  usage,
  async run (argv: string[], ctx: CommandContext): Promise<number> {
    const { values: v } = parse(argv, {
      api: { type: 'string' },
      'api-model': { type: 'string' },
      'api-key': { type: 'string' },
      model: { type: 'string', short: 'm' },
      bootstrap: { type: 'string', multiple: true },
      'swarm-key': { type: 'string' },
      system: { type: 'string' },
      temperature: { type: 'string', short: 't' },
      'top-p': { type: 'string' },
      'max-tokens': { type: 'string', short: 'n' },
      seed: { type: 'string', short: 's' },
      backend: { type: 'string' },
      threads: { type: 'string' },
      verify: { type: 'string' },
  wire: { type: 'string' },
      'data-dir': { type: 'string' },
      credits: { type: 'string' },
      config: { type: 'string' },
      ...SPECULATE_FLAGS
    }, usage)
    if (v.help === true) { ctx.stdout.write(usage); return 0 }
    const config = loadConfig({
      flags: { api: v.api, apiKey: v['api-key'], model: v.model, bootstrap: v.bootstrap, swarmKey: v['swarm-key'], backend: v.backend, threads: v.threads, verify: v.verify, dataDir: v['data-dir'], credits: v.credits, speculate: v.speculate, draft: v.draft, wire: v.wire },
      configFile: v.config,
      env: ctx.env,
      cwd: ctx.cwd ?? process.cwd()
    })
    const sampling: Sampling = {
      temperature: float('temperature', v.temperature) ?? 0.7,
      topP: float('top-p', v['top-p']) ?? 0.95,
      maxTokens: int('max-tokens', v['max-tokens'], 1) ?? 256,
      seed: int('seed', v.seed)
    }
    // a local model unless a server is named (--model on the command line wins over a configured server)
    const remote = config.api !== undefined && v.model === undefined
    if (remote && (v.speculate !== undefined || v.draft !== undefined)) throw new UsageError('--speculate and --draft are for a model run here; an API server speculates as it was started', usage)
    const backend = remote
      ? await apiBackend(new ApiClient(config.api!, config.apiKey), v['api-model'], sampling, ctx.signal)
      : await localBackend(ctx, config, sampling)
    const stdin = ctx.stdin ?? process.stdin
    const tty = (stdin as { isTTY?: boolean }).isTTY === true
    const rl = createInterface({ input: stdin, output: tty ? ctx.stdout : undefined, terminal: tty })
    const stop = (): void => rl.close()
    ctx.signal.addEventListener('abort', stop, { once: true })
    const system: ChatMessage[] = v.system !== undefined ? [{ role: 'system', content: v.system }] : []
    let messages = [...system]
    try {
      if (tty) { ctx.stderr.write('/reset forgets the conversation, /exit (or Ctrl-D) leaves\n'); rl.setPrompt('> '); rl.prompt() }
      for await (const line of rl) {
        const text = line.trim()
        if (text === '/exit') break
        if (text === '/reset') { messages = [...system]; if (tty) rl.prompt(); continue }
        if (text === '') { if (tty) rl.prompt(); continue }
        messages.push({ role: 'user', content: text })
        let reply = ''
        const finish = await backend.reply(messages, piece => { reply += piece; ctx.stdout.write(piece) }, ctx.signal)
        ctx.stdout.write(finish === 'length' && tty ? ' [...]\n' : '\n')
        messages.push({ role: 'assistant', content: reply.trim() })
        if (tty) rl.prompt()
      }
    } finally {
      ctx.signal.removeEventListener('abort', stop)
      rl.close()
      await backend.close()
    }
    return ctx.signal.aborted ? 130 : 0
  }
}

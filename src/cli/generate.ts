import { Model, type Span } from '../model/index.ts'
import { backendNames } from '../kernels/index.ts'
import { loadSwarmModel } from '../swarm/index.ts'
import { type Command, type CommandContext, DEFAULT_MODEL, UsageError, float, int, parse, spans } from './command.ts'
import { cacheFolder, isModelId, loadModelById } from './load.ts'
import { readSwarmKey } from './swarm-key.ts'

const usage = `Usage: gridllm generate [options]

Generates text from a prompt and streams it to stdout.

Options:
  -m, --model <file|dir|id> GGUF file, llama2.c .bin, Hugging Face folder, or a model id
                           (with --bootstrap) (default: the bundled stories260K)
      --tokenizer <file>   tokenizer to use instead of the model's own
                           (llama2.c tokenizer.bin or tokenizer.json)
  -p, --prompt <text>      prompt (default: none, generate from BOS)
  -n, --max-tokens <N>     tokens to generate (default 256; 0 = until the context is full)
  -t, --temperature <T>    0 = greedy (default 0.8)
      --top-k <K>          default 40 (0 = off)
      --top-p <P>          default 0.95 (1 = off)
      --min-p <P>          default 0.05 (0 = off)
      --repeat-penalty <R> default 1 (off)
  -s, --seed <S>           sampling seed (default: random)
      --stop <text>        stop string (repeatable)
      --spans <a:b,...>    run the layers as separate in-process spans, e.g. 0:2,2:5
      --backend <name>     ${['auto', ...backendNames].join(' | ')} (default auto)
      --threads <N>        worker threads for the backend (default: cores)
      --bootstrap <addr>   run the blocks on the swarm this peer belongs to (repeatable);
                           tokenizer, embedding and head still come from --model; with a
                           model id as --model (as \`gridllm status\` shows) they are fetched
                           from the swarm too, into --cache
      --cache <dir>        where fetched weights are kept (default $GRIDLLM_CACHE, else
                           $XDG_CACHE_HOME/gridllm, else ~/.cache/gridllm)
      --swarm-key <file>   the key of a private swarm
      --relay              with --bootstrap: relay every hop through this client instead of
                           letting servers push to each other
      --no-echo            do not print the prompt before the output
      --stats              print tokens and speed to stderr at the end
  -h, --help               show this help
`

export const generateCommand: Command = {
  name: 'generate',
  summary: 'generate text from a prompt, locally or on a swarm',
  usage,
  async run (argv: string[], ctx: CommandContext): Promise<number> {
    const { values: v } = parse(argv, {
      model: { type: 'string', short: 'm' },
      tokenizer: { type: 'string' },
      prompt: { type: 'string', short: 'p' },
      'max-tokens': { type: 'string', short: 'n' },
      temperature: { type: 'string', short: 't' },
      'top-k': { type: 'string' },
      'top-p': { type: 'string' },
      'min-p': { type: 'string' },
      'repeat-penalty': { type: 'string' },
      seed: { type: 'string', short: 's' },
      stop: { type: 'string', multiple: true },
      spans: { type: 'string' },
      backend: { type: 'string' },
      threads: { type: 'string' },
      bootstrap: { type: 'string', multiple: true },
      'swarm-key': { type: 'string' },
      relay: { type: 'boolean' },
      'no-echo': { type: 'boolean' },
      stats: { type: 'boolean' },
      cache: { type: 'string' }
    }, usage)
    if (v.help === true) { ctx.stdout.write(usage); return 0 }
    const backend = v.backend ?? 'auto'
    if (backend !== 'auto' && !(backendNames as readonly string[]).includes(backend)) {
      throw new UsageError(`--backend must be one of auto, ${backendNames.join(', ')}; got "${backend}"`, usage)
    }
    const maxTokens = int('max-tokens', v['max-tokens']) ?? 256
    const common = { tokenizer: v.tokenizer, backend: backend as 'auto', threads: int('threads', v.threads, 1), signal: ctx.signal }
    if (v.bootstrap === undefined && (v['swarm-key'] !== undefined || v.relay === true)) throw new UsageError('--swarm-key and --relay need --bootstrap', usage)
    if (v.bootstrap !== undefined && v.spans !== undefined) throw new UsageError('--spans runs spans in this process; it does not go with --bootstrap', usage)
    const byId = isModelId(v.model ?? '')
    if (byId && v.bootstrap === undefined) throw new UsageError('--model <model id> runs on the swarm: give --bootstrap', usage)
    const model = byId
      ? await loadModelById(v.model!, { ...common, bootstrap: v.bootstrap!, swarmKey: readSwarmKey(v['swarm-key']), mode: v.relay === true ? 'relay' : 'push', cacheDir: cacheFolder(v.cache, ctx.env) })
      : v.bootstrap !== undefined
      ? await loadSwarmModel(v.model ?? DEFAULT_MODEL, { ...common, bootstrap: v.bootstrap, swarmKey: readSwarmKey(v['swarm-key']), mode: v.relay === true ? 'relay' : 'push' })
      : await Model.load(v.model ?? DEFAULT_MODEL, { ...common, spans: spans(v.spans) as Span[] | undefined })
    try {
      const prompt = v.prompt ?? ''
      const gen = model.generate(prompt, {
        maxTokens: maxTokens === 0 ? undefined : maxTokens,
        temperature: float('temperature', v.temperature),
        topK: int('top-k', v['top-k']),
        topP: float('top-p', v['top-p']),
        minP: float('min-p', v['min-p']),
        repeatPenalty: float('repeat-penalty', v['repeat-penalty']),
        seed: int('seed', v.seed),
        stop: v.stop,
        signal: ctx.signal
      })
      if (v['no-echo'] !== true) ctx.stdout.write(prompt)
      const t0 = performance.now()
      let first = 0
      for await (const token of gen) {
        if (first === 0) first = performance.now()
        ctx.stdout.write(token.text)
      }
      const seconds = (performance.now() - (first || t0)) / 1000
      ctx.stdout.write('\n')
      if (v.stats === true) {
        const rate = gen.completionTokens > 1 ? (gen.completionTokens - 1) / seconds : 0
        ctx.stderr.write(`[${gen.promptTokens} prompt + ${gen.completionTokens} tokens, ${rate.toFixed(1)} tok/s, finish: ${gen.finishReason}]\n`)
      }
    } finally {
      await model.close()
    }
    return 0
  }
}

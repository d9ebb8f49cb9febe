import { Model, type Span } from '../model/index.ts'
import { backendNames } from '../kernels/index.ts'
import { type Command, type CommandContext, DEFAULT_MODEL, UsageError, float, int, parse, spans } from './command.ts'
import { isModelId, swarmModel, warnIfRef } from './load.ts'
import { FRAME_DTYPES, type FrameDType } from '../tensor/index.ts'
import { VERIFY_MODES, type VerifyMode } from '../verify/index.ts'
import { SPECULATE_FLAGS, applySpeculation, speculateMode, speculateUsage } from './speculate.ts'

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
      --lan                run the blocks on the swarm found on this LAN (mDNS), with or
                           without --bootstrap
      --swarm-key <file>   the key of a private swarm
      --relay              with a swarm: relay every hop through this client instead of
                           letting servers push to each other
      --verify <mode>      with --bootstrap: off, sample (audit a sample of every server's work,
                           the default) or strict (every step also run by a second server)
      --wire <f32|f16|i8>  with --bootstrap: hidden states on the wire as f32 (default), f16 (half
                           the bytes) or i8 with a scale per row (about a quarter)
      --data-dir <dir>     with --bootstrap: the account that pays for the swarm's work (its key and
                           ledger) and what this node learns of servers (default ~/.gridllm)
      --credits <on|off>   with --bootstrap: pay servers that charge (on, the default) or use only
                           free ones (off)
${speculateUsage(27).trimEnd()}
      --no-echo            do not print the prompt before the output
      --stats              print tokens and speed to stderr at the end
                           (and, speculating, how many drafts were kept)
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
      lan: { type: 'boolean' },
      relay: { type: 'boolean' },
      verify: { type: 'string' },
      wire: { type: 'string' },
      'data-dir': { type: 'string' },
      credits: { type: 'string' },
      'no-echo': { type: 'boolean' },
      stats: { type: 'boolean' },
      cache: { type: 'string' },
      ...SPECULATE_FLAGS
    }, usage)
    if (v.help === true) { ctx.stdout.write(usage); return 0 }
    const backend = v.backend ?? 'auto'
    if (backend !== 'auto' && !(backendNames as readonly string[]).includes(backend)) {
      throw new UsageError(`--backend must be one of auto, ${backendNames.join(', ')}; got "${backend}"`, usage)
    }
    const maxTokens = int('max-tokens', v['max-tokens']) ?? 256
    warnIfRef(backend, ctx)
    const common = { tokenizer: v.tokenizer, backend: backend as 'auto', threads: int('threads', v.threads, 1), signal: ctx.signal }
    const swarm = v.bootstrap !== undefined || v.lan === true
    if (!swarm && (v['swarm-key'] !== undefined || v.relay === true || v.verify !== undefined || v.credits !== undefined || v.wire !== undefined)) throw new UsageError('--swarm-key, --relay, --verify, --wire and --credits need --bootstrap or --lan', usage)
    if (v.wire !== undefined && !(FRAME_DTYPES as readonly string[]).includes(v.wire)) throw new UsageError(`--wire must be one of ${FRAME_DTYPES.join(', ')}; got "${v.wire}"`, usage)
    if (v.credits !== undefined && v.credits !== 'on' && v.credits !== 'off') throw new UsageError(`--credits must be on or off; got "${v.credits}"`, usage)
    if (v.verify !== undefined && !(VERIFY_MODES as readonly string[]).includes(v.verify)) throw new UsageError(`--verify must be one of ${VERIFY_MODES.join(', ')}; got "${v.verify}"`, usage)
    if (swarm && v.spans !== undefined) throw new UsageError('--spans runs spans in this process; it does not go with --bootstrap or --lan', usage)
    if (!swarm && isModelId(v.model ?? '')) throw new UsageError('--model <model id> runs on the swarm: give --bootstrap (or --lan)', usage)
    speculateMode(v.speculate, usage) // a bad value fails before anything loads
    const model = swarm
      ? await swarmModel(v.model ?? DEFAULT_MODEL, { bootstrap: v.bootstrap ?? [], swarmKey: v['swarm-key'], verify: v.verify as VerifyMode | undefined, dataDir: v['data-dir'], credits: v.credits as 'on' | 'off' | undefined, cache: v.cache, wire: v.wire as FrameDType | undefined },
        ctx, {}, { ...common, mdns: v.lan === true, mode: v.relay === true ? 'relay' : 'push' })
      : await Model.load(v.model ?? DEFAULT_MODEL, { ...common, spans: spans(v.spans) as Span[] | undefined })
    let closeDraft = async (): Promise<void> => {}
    try {
      closeDraft = await applySpeculation(model, v, usage, common)
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
        const s = gen.speculation
        const spec = s === undefined ? '' : `, ${s.accepted} of ${s.drafted} drafts kept in ${s.steps} steps`
        ctx.stderr.write(`[${gen.promptTokens} prompt + ${gen.completionTokens} tokens, ${rate.toFixed(1)} tok/s${spec}, finish: ${gen.finishReason}]\n`)
      }
    } finally {
      await closeDraft()
      await model.close()
    }
    return 0
  }
}

/**
 * gridllm's quantizer and engine against llama.cpp's, on files neither engine wrote for itself:
 *   1. the same F32 model quantized by `gridllm quantize` and by llama.cpp's llama_model_quantize
 *      (libllama through koffi): per-tensor types and bytes must be identical;
 *   2. gridllm's file loaded in llama.cpp (node-llama-cpp) and in gridllm: greedy tokens compared;
 *   3. perplexity of a fixed token sequence in both engines on that file.
 * Models: stories260K tiled to dim 256 (real weights, every K-quant fits, logits far from ties)
 * and the SmolLM2-135M shape (random weights; its rows of 576 take llama.cpp's fallbacks).
 * One JSON line per model and type:
 *   {"bench":"llama-compat","model":"tiled-stories","type":"q4_k_m","tensors":…,"types_differing":0,
 *    "bytes_differing":0,"greedy_tokens":64,"greedy_agree":64,"ppl":…,"llama_cpp_ppl":…,"ppl_ratio":…}
 * Where the greedy runs part, "first_diff_logit_gap" is gridllm's logit of its token minus llama.cpp's choice.
 * Options: --models tiled-stories,135M --types q4_k_m,q5_k_m,q6_k,q4_k,q5_k,q8_0,q4_0,q5_0,q5_1 --tokens 64
 */
import { existsSync, mkdirSync, readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { pathToFileURL } from 'node:url'
import { parseArgs } from 'node:util'
import { quantizeModel } from '../src/cli/quantize.ts'
import { Model } from '../src/model/index.ts'
import { RECIPES, type QuantType } from '../src/model/gguf/recipe.ts'
import { readGguf } from '../src/model/gguf/reader.ts'
import { SHAPE_135M, writeSyntheticGguf } from '../src/model/synthetic.ts'
import { expectedIds } from '../test/fixtures/stories.ts'
import { writeTiledStories } from '../test/fixtures/tiled-stories.ts'
import { BENCH_CACHE, ensureBenchPackage, ensureLlamaCpp, llamaCppLibrary } from './llama-cpp.ts'
import { promptIds } from './run-engine.ts'

const { values: opts } = parseArgs({
  options: {
    models: { type: 'string', default: 'tiled-stories,135M' },
    types: { type: 'string', default: 'q4_k_m,q5_k_m,q6_k,q4_k,q5_k,q8_0,q4_0,q5_0,q5_1' },
    tokens: { type: 'string', default: '64' }
  }
})
const log = (msg: string): void => { process.stderr.write(`[bench] ${msg}\n`) }
const models = `${BENCH_CACHE}models/`
mkdirSync(models, { recursive: true })

/** The F32 source and the token sequence whose perplexity is measured. */
async function source (name: string): Promise<{ path: string, text: number[], prompt: number[] }> {
  const path = `${models}${name}-f32.gguf`
  if (name === 'tiled-stories') {
    if (!existsSync(path)) await writeTiledStories(path)
    return { path, text: [1, ...expectedIds()], prompt: [1] } // BOS, then llama2.c's story
  }
  if (!existsSync(path)) { log(`writing ${path}`); writeSyntheticGguf(path, SHAPE_135M, { dtype: 'f32', seed: 1 }) }
  return { path, text: promptIds(256), prompt: promptIds(8) }
}

// llama.cpp's quantizer (libllama's C API)
const koffi = createRequire(import.meta.url)(ensureBenchPackage('koffi@3.3.4')) as {
  load: (path: string) => { func: (sig: string) => (...args: unknown[]) => unknown }
  struct: (name: string, fields: Record<string, string>) => unknown
}
koffi.struct('llama_model_quantize_params', {
  nthread: 'int32', ftype: 'int32', output_tensor_type: 'int32', token_embedding_type: 'int32',
  allow_requantize: 'bool', quantize_output_tensor: 'bool', only_copy: 'bool', pure: 'bool', keep_split: 'bool', dry_run: 'bool',
  imatrix: 'void *', kv_overrides: 'void *', tt_overrides: 'void *', prune_layers: 'void *', max_buf_size: 'size_t'
})
const libllama = koffi.load(llamaCppLibrary('libllama.v0.5.0.so'))
const defaultParams = libllama.func('llama_model_quantize_params llama_model_quantize_default_params(void)')
const llamaQuantize = libllama.func('uint32_t llama_model_quantize(const char *inp, const char *out, const llama_model_quantize_params *params)')

function quantizeWithLlamaCpp (input: string, output: string, type: QuantType): void {
  const params = defaultParams() as Record<string, unknown>
  params.ftype = RECIPES[type].fileType
  params.pure = !RECIPES[type].mix // gridllm's one-type files are llama.cpp's --pure
  params.nthread = 2
  if (llamaQuantize(input, output, params) !== 0) throw new Error(`llama_model_quantize failed for ${type}`)
}

/** Tensors whose type or bytes differ between two GGUF files. */
function compareFiles (a: string, b: string): { tensors: number, types: number, bytes: number } {
  const ga = readGguf(a); const gb = readGguf(b)
  const fa = readFileSync(a); const fb = readFileSync(b)
  const theirs = new Map(gb.tensors.map((t, i) => [t.name, { t, end: gb.tensors[i + 1]?.offset ?? gb.fileSize }]))
  let types = 0; let bytes = 0
  ga.tensors.forEach((t, i) => {
    const u = theirs.get(t.name)
    if (u === undefined || u.t.ggmlType !== t.ggmlType) { types++; log(`  ${t.name}: type ${t.ggmlType} vs ${u?.t.ggmlType}`); return }
    const n = Math.min((ga.tensors[i + 1]?.offset ?? ga.fileSize) - t.offset, u.end - u.t.offset)
    if (!fa.subarray(t.offset, t.offset + n).equals(fb.subarray(u.t.offset, u.t.offset + n))) bytes++
  })
  return { tensors: ga.tensors.length + Math.max(0, gb.tensors.length - ga.tensors.length), types, bytes }
}

function nll (logits: ArrayLike<number>, next: number): number {
  let max = -Infinity
  for (let i = 0; i < logits.length; i++) max = Math.max(max, logits[i]!)
  let sum = 0
  for (let i = 0; i < logits.length; i++) sum += Math.exp(logits[i]! - max)
  return Math.log(sum) + max - logits[next]!
}

/** gridllm's logit gap between two candidate next tokens after `ids` (how near a tie a divergence was). */
async function logitGap (path: string, ids: number[], a: number, b: number): Promise<number> {
  const model = await Model.load(path, { threads: 1 })
  try {
    const [session] = await Promise.all(model.executors.map(async e => await e.open('gap', { maxLength: ids.length })))
    const hidden = await session!.forward(await model.ends.embed(ids), ids.map((_, i) => i))
    const logits = await model.ends.logits(hidden.subarray(hidden.length - model.config.dim))
    return logits[a]! - logits[b]!
  } finally {
    await model.close()
  }
}

async function gridllmRun (path: string, prompt: number[], text: number[], n: number): Promise<{ tokens: number[], ppl: number }> {
  const model = await Model.load(path, { threads: 1 })
  try {
    const tokens: number[] = []
    for await (const t of model.generate(prompt, { temperature: 0, maxTokens: n })) tokens.push(t.id)
    const [session] = await Promise.all(model.executors.map(async e => await e.open('ppl', { maxLength: text.length })))
    const hidden = await session!.forward(await model.ends.embed(text), text.map((_, i) => i))
    await session!.close()
    const v = model.config.vocabSize
    const logits = await model.ends.logits(hidden)
    let total = 0
    for (let i = 0; i + 1 < text.length; i++) total += nll(logits.subarray(i * v, (i + 1) * v), text[i + 1]!)
    return { tokens, ppl: Math.exp(total / (text.length - 1)) }
  } finally {
    await model.close()
  }
}

/** The slice of node-llama-cpp's API used here (it is not a dependency, so no types). */
interface Sequence {
  evaluate (tokens: number[], o: { temperature: number }): AsyncGenerator<number>
  controlledEvaluate (input: Array<[number, { generateNext: { logits: true } }]>): Promise<Array<{ next: { logits?: Map<number, number> } } | undefined>>
}
interface LlamaModel { createContext (o: object): Promise<{ getSequence (): Sequence, dispose (): Promise<void> }>, dispose (): Promise<void> }

async function llamaCppRun (path: string, prompt: number[], text: number[], n: number, vocab: number): Promise<{ tokens: number[], ppl: number }> {
  const entry = pathToFileURL(`${ensureLlamaCpp()}/dist/index.js`).href
  const { getLlama } = await import(entry) as { getLlama: (o: object) => Promise<{ loadModel: (o: object) => Promise<LlamaModel>, dispose: () => Promise<void> }> }
  const llama = await getLlama({ gpu: false, build: 'never', logLevel: 'error' })
  const model = await llama.loadModel({ modelPath: path })
  try {
    let context = await model.createContext({ contextSize: Math.max(text.length, prompt.length + n) + 8, threads: { ideal: 1, min: 1 }, batchSize: 64 })
    const tokens: number[] = []
    for await (const t of context.getSequence().evaluate(prompt, { temperature: 0 })) { tokens.push(t); if (tokens.length >= n) break }
    await context.dispose()
    context = await model.createContext({ contextSize: text.length + 8, threads: { ideal: 1, min: 1 }, batchSize: 64 })
    const seq = context.getSequence()
    let total = 0
    for (let c = 0; c + 1 < text.length; c += 64) {
      const chunk = text.slice(c, Math.min(text.length - 1, c + 64))
      const out = await seq.controlledEvaluate(chunk.map(t => [t, { generateNext: { logits: true } }]))
      chunk.forEach((_, i) => {
        const logits = new Float32Array(vocab)
        for (const [tok, v] of out[i]!.next.logits!) logits[tok] = v
        total += nll(logits, text[c + i + 1]!)
      })
    }
    await context.dispose()
    return { tokens, ppl: Math.exp(total / (text.length - 1)) }
  } finally {
    await model.dispose()
    await llama.dispose()
  }
}

const gen = Number(opts.tokens)
for (const name of opts.models.split(',')) {
  const src = await source(name)
  const vocab = readGguf(src.path).tensors.find(t => t.name === 'token_embd.weight')!.ne[1]!
  for (const type of opts.types.split(',') as QuantType[]) {
    const ours = `${models}${name}-${type}-gridllm.gguf`
    const theirs = `${models}${name}-${type}-llamacpp.gguf`
    const t0 = performance.now()
    await quantizeModel(src.path, ours, type)
    const quantizeS = (performance.now() - t0) / 1000
    quantizeWithLlamaCpp(src.path, theirs, type)
    const diff = compareFiles(ours, theirs)
    const a = await gridllmRun(ours, src.prompt, src.text, gen)
    const b = await llamaCppRun(ours, src.prompt, src.text, gen, vocab)
    let agree = 0
    while (agree < gen && a.tokens[agree] === b.tokens[agree]) agree++
    // where they part, how far apart gridllm's logits of the two choices were (small: a near-tie)
    const gap = agree < Math.min(a.tokens.length, b.tokens.length) ? await logitGap(ours, [...src.prompt, ...a.tokens.slice(0, agree)], a.tokens[agree]!, b.tokens[agree]!) : undefined
    const round = (x: number, d = 4): number => Math.round(x * 10 ** d) / 10 ** d
    process.stdout.write(JSON.stringify({
      bench: 'llama-compat', model: name, type, tensors: diff.tensors, types_differing: diff.types, bytes_differing: diff.bytes,
      quantize_s: round(quantizeS, 1), greedy_tokens: gen, greedy_agree: agree, ...(gap !== undefined ? { first_diff_logit_gap: round(gap) } : {}), ppl: round(a.ppl), llama_cpp_ppl: round(b.ppl), ppl_ratio: round(a.ppl / b.ppl)
    }) + '\n')
  }
}

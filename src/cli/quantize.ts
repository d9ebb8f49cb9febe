/**
 * `gridllm quantize`: rewrites a GGUF file or a Hugging Face folder as a quantized GGUF that
 * llama.cpp loads too, each tensor's type chosen as llama-quantize chooses it (src/model/gguf/
 * recipe.ts): the K-quant mixes Q4_K_M, Q5_K_M and Q6_K, or one type for every matrix. Vectors
 * (norms, biases) keep their type. Every tensor is read, converted and written one at a time, so
 * a model never sits in memory whole.
 */
import { closeSync, openSync, readSync } from 'node:fs'
import { logger } from '../util/log.ts'
import { BadModelFileError, InvalidArgumentError, UnsupportedTokenizerError } from '../util/errors.ts'
import { decode, encode, numel } from '../tensor/index.ts'
import { type ModelSource, type TensorEntry, openModel } from '../model/index.ts'
import { readGguf } from '../model/gguf/reader.ts'
import { type GgufValue, ValueType } from '../model/gguf/types.ts'
import { type MetaValue, type TensorToWrite, meta, metaValue, writeGguf } from '../model/gguf/writer.ts'
import { QUANT_TYPES, type QuantType, RECIPES, tensorTypes } from '../model/gguf/recipe.ts'
import { ROPE_FREQS } from '../model/gguf/source.ts'
import { bpeTokenizerJson, supportedPreTokenizers } from '../model/tokenizer/gguf-bpe.ts'
import { type Command, type CommandContext, UsageError, parse } from './command.ts'

const log = logger('cli:quantize')

export { type QuantType } from '../model/gguf/recipe.ts'

export interface QuantizeResult {
  tensors: number
  quantized: number
  /** tensors per type written */
  types: Record<string, number>
}

export async function quantizeModel (input: string, output: string, type: QuantType, options: { signal?: AbortSignal } = {}): Promise<QuantizeResult> {
  const source = await openModel(input, options)
  const fromHf = source.format === 'safetensors'
  if (source.format !== 'gguf' && !fromHf) throw new InvalidArgumentError(`${input}: quantize reads GGUF files and Hugging Face folders, not ${source.format} checkpoints`)
  const gguf = fromHf ? undefined : readGguf(input)
  const metadata = gguf === undefined ? hfMetadata(source, type) : copiedMetadata(gguf.metadata, gguf.metadataTypes, type)
  // Hugging Face Llama checkpoints rotate halves; GGUF llama rotates adjacent pairs, so Q and K rows
  // are permuted the way llama.cpp's converter does (qwen2 keeps halves in GGUF too).
  const permute = fromHf && source.config.architecture === 'llama'
  const fds = new Map<string, number>()
  const entries = [...source.tensors.values()]
  const types = tensorTypes(entries, type, source.config.nLayers)
  let quantized = 0
  const counts: Record<string, number> = {}
  const tensors = entries.map((entry): TensorToWrite => {
    const dtype = types.get(entry.name)!
    if (dtype !== entry.dtype) quantized++
    counts[dtype] = (counts[dtype] ?? 0) + 1
    const heads = !permute ? 0 : /attn_q\.(weight|bias)$/.test(entry.name) ? source.config.nHeads : /attn_k\.(weight|bias)$/.test(entry.name) ? source.config.nKvHeads : 0
    return {
      name: entry.name,
      dtype,
      shape: entry.shape,
      data: () => {
        const raw = readTensor(entry, fds)
        if (dtype === entry.dtype && heads === 0) return raw
        let values = decode(entry.dtype, raw, numel(entry.shape))
        if (heads > 0) values = permuteRows(values, entry.shape, heads)
        return encode(dtype, values)
      }
    }
  })
  // Llama 3.x scaling from a Hugging Face config: llama.cpp's converter writes the factors as a tensor
  const factors = source.config.ropeFreqFactors
  if (fromHf && factors !== undefined && factors.some(f => f !== factors[0]) && !source.tensors.has(ROPE_FREQS)) {
    tensors.push({ name: ROPE_FREQS, dtype: 'f32', shape: [factors.length], data: encode('f32', Float32Array.from(factors)) })
    counts.f32 = (counts.f32 ?? 0) + 1
  }
  try {
    writeGguf(output, metadata, tensors, gguf?.alignment)
  } finally {
    for (const fd of fds.values()) closeSync(fd)
  }
  log('%s → %s: %d tensors, %d quantized to %s: %o', input, output, tensors.length, quantized, type, counts)
  return { tensors: tensors.length, quantized, types: counts }
}

function readTensor (t: TensorEntry, fds: Map<string, number>): Uint8Array {
  let fd = fds.get(t.file)
  if (fd === undefined) { fd = openSync(t.file, 'r'); fds.set(t.file, fd) }
  const out = new Uint8Array(t.byteLength)
  for (let done = 0; done < out.length;) {
    const n = readSync(fd, out, done, out.length - done, t.offset + done)
    if (n === 0) throw new BadModelFileError(`${t.file}: truncated while reading tensor "${t.name}"`)
    done += n
  }
  return out
}

/** Within each head, rows [0, half) and [half, headDim) interleave: new 2i = old i, new 2i+1 = old half + i. */
function permuteRows (values: Float32Array, shape: readonly number[], heads: number): Float32Array {
  const [rows, cols = 1] = shape as [number, number?]
  const headDim = rows / heads
  const half = headDim / 2
  const out = new Float32Array(values.length)
  for (let h = 0; h < heads; h++) {
    for (let i = 0; i < half; i++) {
      const base = h * headDim
      out.set(values.subarray((base + i) * cols, (base + i + 1) * cols), (base + 2 * i) * cols)
      out.set(values.subarray((base + half + i) * cols, (base + half + i + 1) * cols), (base + 2 * i + 1) * cols)
    }
  }
  return out
}

/** The input's metadata with the same value types, the file type updated. */
function copiedMetadata (metadata: ReadonlyMap<string, GgufValue>, types: ReadonlyMap<string, ValueType>, type: QuantType): Array<readonly [string, MetaValue]> {
  const out: Array<readonly [string, MetaValue]> = []
  for (const [key, value] of metadata) {
    if (key === 'general.alignment' || key === 'general.file_type' || key === 'general.quantization_version') continue
    out.push([key, metaValue(key, value, types.get(key)!)])
  }
  out.push(['general.file_type', meta.u32(RECIPES[type].fileType)], ['general.quantization_version', meta.u32(2)])
  return out
}

/** GGUF metadata for a Hugging Face folder: the config's keys and a byte-level BPE tokenizer. */
function hfMetadata (source: ModelSource, type: QuantType): Array<readonly [string, MetaValue]> {
  const c = source.config
  const arch = c.architecture
  const out: Array<readonly [string, MetaValue]> = [
    ['general.architecture', meta.str(arch)],
    ['general.name', meta.str(source.name)],
    ['general.file_type', meta.u32(RECIPES[type].fileType)],
    ['general.quantization_version', meta.u32(2)],
    [`${arch}.context_length`, meta.u32(c.contextLength)],
    [`${arch}.embedding_length`, meta.u32(c.dim)],
    [`${arch}.block_count`, meta.u32(c.nLayers)],
    [`${arch}.feed_forward_length`, meta.u32(c.hiddenDim)],
    [`${arch}.attention.head_count`, meta.u32(c.nHeads)],
    [`${arch}.attention.head_count_kv`, meta.u32(c.nKvHeads)],
    [`${arch}.rope.freq_base`, meta.f32(c.ropeTheta)],
    [`${arch}.rope.dimension_count`, meta.u32(c.ropeDim)],
    [`${arch}.attention.layer_norm_rms_epsilon`, meta.f32(c.normEps)]
  ]
  if (c.headDim * c.nHeads !== c.dim) out.push([`${arch}.attention.key_length`, meta.u32(c.headDim)], [`${arch}.attention.value_length`, meta.u32(c.headDim)])
  const factors = c.ropeFreqFactors
  // linear scaling has one factor for every pair; Llama 3.x's factors go into rope_freqs.weight
  if (factors !== undefined && factors.every(f => f === factors[0])) out.push([`${arch}.rope.scaling.type`, meta.str('linear')], [`${arch}.rope.scaling.factor`, meta.f32(factors[0]!)])
  const tok = source.tokenizer
  const json = tok?.kind === 'hf' ? tok.tokenizerJson : undefined
  const model = json?.model as { type?: string, vocab?: Record<string, number>, merges?: Array<string | [string, string]> } | undefined
  const decoder = json?.decoder as { type?: string } | undefined
  if (tok?.kind !== 'hf' || model?.type !== 'BPE' || decoder?.type !== 'ByteLevel') {
    throw new UnsupportedTokenizerError(`${source.path}: only byte-level BPE tokenizers (GPT-2 style, as in SmolLM and Qwen2) can be written to GGUF`)
  }
  const tokens: string[] = []
  const types: number[] = []
  for (const [token, id] of Object.entries(model.vocab ?? {})) { tokens[id] = token; types[id] = 1 }
  for (const t of (json!.added_tokens ?? []) as Array<{ id: number, content: string, special?: boolean }>) {
    tokens[t.id] = t.content
    types[t.id] = t.special === true ? 3 : 4
  }
  for (let i = 0; i < c.vocabSize; i++) if (tokens[i] === undefined) { tokens[i] = `[PAD${i}]`; types[i] = 5 } // unused ids, as llama.cpp's converter names them
  out.push(
    ['tokenizer.ggml.model', meta.str('gpt2')],
    ['tokenizer.ggml.pre', meta.str(preTokenizerName(json!.pre_tokenizer, source.path))],
    ['tokenizer.ggml.tokens', meta.strings(tokens)],
    ['tokenizer.ggml.token_type', meta.i32s(Int32Array.from(types))],
    ['tokenizer.ggml.merges', meta.strings((model.merges ?? []).map(m => typeof m === 'string' ? m : m.join(' ')))],
    ['tokenizer.ggml.add_bos_token', meta.bool(tok.addBos)]
  )
  if (tok.bos !== undefined) out.push(['tokenizer.ggml.bos_token_id', meta.u32(tok.bos)])
  if (tok.eos[0] !== undefined) out.push(['tokenizer.ggml.eos_token_id', meta.u32(tok.eos[0])])
  if (source.chatTemplate !== undefined) out.push(['tokenizer.chat_template', meta.str(source.chatTemplate)])
  return out
}

/** The `tokenizer.ggml.pre` whose pre-tokenizer is the folder's own ('default' is GPT-2's, a name llama.cpp knows). */
function preTokenizerName (preTokenizer: unknown, where: string): string {
  const want = JSON.stringify(preTokenizer)
  const name = supportedPreTokenizers.find(pre =>
    JSON.stringify(bpeTokenizerJson({ tokens: [], types: new Int32Array(0), merges: [], pre, where }).pre_tokenizer) === want)
  if (name === undefined) log('warning: %s: pre-tokenizer not recognized; writing "default"', where)
  return name ?? 'default'
}

const usage = `Usage: gridllm quantize <in.gguf | hf-folder> <out.gguf> --type <type>

Writes a quantized GGUF file that llama.cpp loads too, choosing each tensor's type as
llama-quantize does. Types:
  q4_k_m, q5_k_m, q6_k   llama.cpp's K-quant mixes (the output, attention-V and feed-forward-down
                         matrices get more bits in some layers)
  q8_0, q4_0, q5_0, q5_1, q2_k, q3_k, q4_k, q5_k
                         one type for every matrix (llama.cpp's --pure)
Matrices whose rows the type's blocks do not divide fall back as in llama.cpp (Q4_K to Q5_0,
Q5_K to Q5_1, Q6_K to Q8_0; then F16); norms and biases keep their type. Reads GGUF (any type
gridllm reads) and Hugging Face folders (safetensors with a byte-level BPE tokenizer.json).

Options:
      --type <type>   the quantization (required)
  -h, --help          show this help
`

export const quantizeCommand: Command = {
  name: 'quantize',
  summary: 'write a quantized GGUF (Q4_K_M, Q5_K_M, Q6_K, Q8_0, ...) from a GGUF file or Hugging Face folder',
  usage,
  async run (argv: string[], ctx: CommandContext): Promise<number> {
    const { values: v, positionals } = parse(argv, { type: { type: 'string' } }, usage, true)
    if (v.help === true) { ctx.stdout.write(usage); return 0 }
    if (positionals.length !== 2) throw new UsageError('expected an input model and an output file', usage)
    const type = v.type?.toLowerCase()
    if (!(QUANT_TYPES as readonly string[]).includes(type ?? '')) throw new UsageError(`--type must be one of ${QUANT_TYPES.join(', ')}${type === undefined ? '' : `, got "${v.type}"`}`, usage)
    const [input, output] = positionals as [string, string]
    if (input === output) throw new UsageError('the output must be another file than the input', usage)
    const t0 = performance.now()
    const r = await quantizeModel(input, output, type as QuantType, { signal: ctx.signal })
    const mix = Object.entries(r.types).map(([t, n]) => `${n} ${t}`).join(', ')
    ctx.stderr.write(`${output}: ${r.quantized} of ${r.tensors} tensors quantized to ${type} (${mix}) in ${((performance.now() - t0) / 1000).toFixed(1)} s\n`)
    return 0
  }
}

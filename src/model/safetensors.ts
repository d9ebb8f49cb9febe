/**
 * Hugging Face checkpoint folders: config.json, model.safetensors (or shards listed in
 * model.safetensors.index.json), tokenizer.json and tokenizer_config.json. Weights keep HF's
 * layout, so RoPE rotates halves ('neox'); GGUF llama files rotate adjacent pairs instead.
 */
import { closeSync, fstatSync, openSync, readSync, existsSync } from 'node:fs'
import { basename, join } from 'node:path'
import type { DType } from '../tensor/index.ts'
import { BadModelFileError, UnsupportedArchitectureError, UnsupportedTensorTypeError } from '../util/errors.ts'
import { logger } from '../util/log.ts'
import { type Architecture, type ModelConfig, TensorNames, llama3RopeFactors, validateConfig } from './config.ts'
import { openOrThrow, readJsonFile } from './files.ts'
import { type ModelSource, type TensorEntry, checkExtents, requireTensors } from './source.ts'
import { hfTokenizerData } from './tokenizer/hf-files.ts'

const log = logger('model:safetensors')

/** Hugging Face architectures (config.json "architectures") this runtime runs, and their GGUF names. */
export const HF_ARCHITECTURES: Readonly<Record<string, Architecture>> = {
  LlamaForCausalLM: 'llama', // Llama 2/3.x, SmolLM/SmolLM2, TinyLlama
  MistralForCausalLM: 'llama',
  Qwen2ForCausalLM: 'qwen2', // Qwen2, Qwen2.5
  Qwen3ForCausalLM: 'qwen3'
}

const DTYPES: Readonly<Record<string, DType>> = { F32: 'f32', F16: 'f16', BF16: 'bf16' }

const LAYER_NAMES: Readonly<Record<string, string>> = {
  'input_layernorm.weight': 'attn_norm.weight',
  'self_attn.q_proj.weight': 'attn_q.weight',
  'self_attn.k_proj.weight': 'attn_k.weight',
  'self_attn.v_proj.weight': 'attn_v.weight',
  'self_attn.q_proj.bias': 'attn_q.bias',
  'self_attn.k_proj.bias': 'attn_k.bias',
  'self_attn.v_proj.bias': 'attn_v.bias',
  'self_attn.o_proj.weight': 'attn_output.weight',
  'self_attn.q_norm.weight': 'attn_q_norm.weight',
  'self_attn.k_norm.weight': 'attn_k_norm.weight',
  'post_attention_layernorm.weight': 'ffn_norm.weight',
  'mlp.gate_proj.weight': 'ffn_gate.weight',
  'mlp.up_proj.weight': 'ffn_up.weight',
  'mlp.down_proj.weight': 'ffn_down.weight'
}

/** HF tensor name → canonical (GGUF) name, or undefined for tensors the runtime ignores. */
export function canonicalName (hf: string): string | undefined {
  if (hf === 'model.embed_tokens.weight') return TensorNames.embedding
  if (hf === 'model.norm.weight') return TensorNames.outputNorm
  if (hf === 'lm_head.weight') return TensorNames.output
  const m = /^model\.layers\.(\d+)\.(.+)$/.exec(hf)
  const part = m === null ? undefined : LAYER_NAMES[m[2]!]
  return part === undefined ? undefined : `blk.${m![1]}.${part}`
}

type Json = Record<string, unknown>

export function openSafetensorsDir (dir: string): ModelSource {
  const hfConfig = readJsonFile(join(dir, 'config.json'))
  const arch = ((hfConfig.architectures ?? []) as string[]).find(a => HF_ARCHITECTURES[a] !== undefined)
  if (arch === undefined) throw new UnsupportedArchitectureError(String(hfConfig.architectures ?? hfConfig.model_type), Object.keys(HF_ARCHITECTURES))
  const tensors = new Map<string, TensorEntry>()
  const sizes = new Map<string, number>()
  for (const file of shardFiles(dir)) readHeader(file, tensors, sizes)
  checkExtents(tensors.values(), sizes)
  const config = hfModelConfig(hfConfig, HF_ARCHITECTURES[arch]!, tensors, dir)
  requireTensors(config, tensors, dir)
  const tok = hfTokenizerData(dir, hfConfig)
  return { path: dir, format: 'safetensors', name: basename(dir), config, tensors, tokenizer: tok?.data, chatTemplate: tok?.chatTemplate }
}

function shardFiles (dir: string): string[] {
  const index = join(dir, 'model.safetensors.index.json')
  if (existsSync(index)) {
    const map = (readJsonFile(index).weight_map ?? {}) as Record<string, string>
    return [...new Set(Object.values(map))].sort().map(f => join(dir, f))
  }
  return [join(dir, 'model.safetensors')]
}

function readHeader (file: string, tensors: Map<string, TensorEntry>, sizes: Map<string, number>): void {
  const fd = openOrThrow(file, openSync)
  let header: Json
  let dataStart: number
  try {
    const size = fstatSync(fd).size
    sizes.set(file, size)
    const lenBuf = Buffer.alloc(8)
    if (size < 8 || readSync(fd, lenBuf, 0, 8, 0) !== 8) throw new BadModelFileError(`${file}: truncated safetensors file`)
    const len = Number(lenBuf.readBigUInt64LE(0))
    if (len > 100_000_000 || 8 + len > size) throw new BadModelFileError(`${file}: truncated or not a safetensors file (header length ${len})`)
    const buf = Buffer.alloc(len)
    readSync(fd, buf, 0, len, 8)
    try { header = JSON.parse(buf.toString('utf8')) as Json } catch (err) {
      throw new BadModelFileError(`${file}: safetensors header is not valid JSON`, { cause: err })
    }
    dataStart = 8 + len
  } finally {
    closeSync(fd)
  }
  for (const [hfName, info] of Object.entries(header)) {
    if (hfName === '__metadata__') continue
    const name = canonicalName(hfName)
    if (name === undefined) { log('ignoring tensor %s', hfName); continue }
    const { dtype: st, shape, data_offsets: offsets } = info as { dtype: string, shape: number[], data_offsets: [number, number] }
    const dtype = DTYPES[st]
    if (dtype === undefined) throw new UnsupportedTensorTypeError(`${file}: tensor "${hfName}" has type ${st}; supported: ${Object.keys(DTYPES).join(', ')}`)
    tensors.set(name, { name, dtype, shape, file, offset: dataStart + offsets[0], byteLength: offsets[1] - offsets[0] })
  }
}

function hfModelConfig (c: Json, architecture: Architecture, tensors: ReadonlyMap<string, TensorEntry>, where: string): ModelConfig {
  const num = (key: string, fallback?: number): number => {
    const v = c[key] ?? fallback
    if (typeof v !== 'number') throw new BadModelFileError(`${where}/config.json: "${key}" is missing or not a number`)
    return v
  }
  const dim = num('hidden_size')
  const nHeads = num('num_attention_heads')
  const headDim = typeof c.head_dim === 'number' ? c.head_dim : dim / nHeads
  const ropeTheta = num('rope_theta', 10000)
  const ropeFreqFactors = hfRopeFactors(c.rope_scaling as Json | null | undefined, headDim, ropeTheta, architecture, where)
  if (typeof c.sliding_window === 'number' && c.use_sliding_window !== false && c.max_position_embeddings as number > c.sliding_window) {
    log('warning: %s: sliding-window attention (%d) is not applied; prompts up to that length are exact', where, c.sliding_window)
  }
  return validateConfig({
    architecture,
    dim,
    hiddenDim: num('intermediate_size'),
    nLayers: num('num_hidden_layers'),
    nHeads,
    nKvHeads: num('num_key_value_heads', nHeads),
    headDim,
    vocabSize: num('vocab_size'),
    contextLength: num('max_position_embeddings'),
    normEps: num('rms_norm_eps', 1e-6),
    ropeTheta,
    ropeDim: headDim,
    ropeStyle: 'neox',
    tiedEmbeddings: !tensors.has(TensorNames.output),
    qkvBias: tensors.has(TensorNames.layer(0, 'attn_q.bias')),
    ...(tensors.has(TensorNames.layer(0, 'attn_q_norm.weight')) ? { qkNorm: true as const } : {}),
    ...(ropeFreqFactors !== undefined ? { ropeFreqFactors } : {})
  }, `${where}/config.json`)
}

/** config.json's rope_scaling as per-pair frequency factors: Llama 3.x ("llama3") and linear; others are refused. */
function hfRopeFactors (s: Json | null | undefined, ropeDim: number, theta: number, arch: Architecture, where: string): number[] | undefined {
  if (s === null || s === undefined) return undefined
  const type = String(s.rope_type ?? s.type ?? 'default')
  const num = (key: string, fallback?: number): number => {
    const v = s[key] ?? fallback
    if (typeof v !== 'number' || !(v > 0)) throw new BadModelFileError(`${where}/config.json: rope_scaling.${key} is missing or not a positive number`)
    return v
  }
  if (type === 'default') return undefined
  if (type === 'linear') return new Array<number>(ropeDim / 2).fill(num('factor'))
  if (type === 'llama3') {
    return llama3RopeFactors(ropeDim, theta, {
      factor: num('factor'), lowFreqFactor: num('low_freq_factor', 1), highFreqFactor: num('high_freq_factor', 4), originalContext: num('original_max_position_embeddings', 8192)
    })
  }
  throw new UnsupportedArchitectureError(`${arch} with ${type} RoPE scaling`, Object.values(HF_ARCHITECTURES).filter((a, i, all) => all.indexOf(a) === i).map(a => `${a} (RoPE unscaled, linear or llama3)`))
}

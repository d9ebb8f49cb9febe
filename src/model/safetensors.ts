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
import { type Architecture, type ModelConfig, TensorNames, validateConfig } from './config.ts'
import { openOrThrow, readJsonFile } from './files.ts'
import { type ModelSource, type TensorEntry, checkExtents, requireTensors } from './source.ts'
import { hfTokenizerData } from './tokenizer/hf-files.ts'

const log = logger('model:safetensors')

const ARCHITECTURES: Readonly<Record<string, Architecture>> = {
  LlamaForCausalLM: 'llama',
  MistralForCausalLM: 'llama',
  Qwen2ForCausalLM: 'qwen2'
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
  const arch = ((hfConfig.architectures ?? []) as string[]).find(a => ARCHITECTURES[a] !== undefined)
  if (arch === undefined) throw new UnsupportedArchitectureError(String(hfConfig.architectures ?? hfConfig.model_type), Object.keys(ARCHITECTURES))
  const tensors = new Map<string, TensorEntry>()
  const sizes = new Map<string, number>()
  for (const file of shardFiles(dir)) readHeader(file, tensors, sizes)
  checkExtents(tensors.values(), sizes)
  const config = hfModelConfig(hfConfig, ARCHITECTURES[arch]!, tensors, dir)
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
  if (c.rope_scaling !== undefined && c.rope_scaling !== null) log('warning: %s uses rope_scaling, which is ignored', where)
  const dim = num('hidden_size')
  const nHeads = num('num_attention_heads')
  const headDim = num('head_dim', dim / nHeads)
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
    ropeTheta: num('rope_theta', 10000),
    ropeDim: headDim,
    ropeStyle: 'neox',
    tiedEmbeddings: !tensors.has(TensorNames.output),
    qkvBias: tensors.has(TensorNames.layer(0, 'attn_q.bias'))
  }, `${where}/config.json`)
}

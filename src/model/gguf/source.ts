/** A GGUF file as a ModelSource: config from `<arch>.*` metadata, tensors under their own names. */
import { closeSync, openSync, readSync } from 'node:fs'
import { basename } from 'node:path'
import { dtypeFromGgml, byteSize } from '../../tensor/index.ts'
import { BadModelFileError, ShapeMismatchError, UnsupportedArchitectureError, UnsupportedTokenizerError } from '../../util/errors.ts'
import { ARCHITECTURES, type ModelConfig, TensorNames, asArchitecture, validateConfig } from '../config.ts'
import { type ModelSource, type TensorEntry, type TokenizerData, checkExtents, requireTensors } from '../source.ts'
import { bpeTokenizerJson } from '../tokenizer/gguf-bpe.ts'
import { Metadata } from './metadata.ts'
import { readGguf } from './reader.ts'

export function openGguf (path: string): ModelSource {
  const file = readGguf(path)
  const meta = new Metadata(file.metadata, path)
  const tensors = new Map<string, TensorEntry>()
  for (const info of file.tensors) {
    const dtype = dtypeFromGgml(info.ggmlType, info.name)
    const shape = [...info.ne].reverse()
    let byteLength: number
    try {
      byteLength = byteSize(dtype, shape)
    } catch (err) {
      if (err instanceof ShapeMismatchError) throw new ShapeMismatchError(`${path}: tensor "${info.name}": ${err.message}`)
      throw err
    }
    tensors.set(info.name, { name: info.name, dtype, shape, file: path, offset: info.offset, byteLength })
  }
  checkExtents(tensors.values(), new Map([[path, file.fileSize]]))
  const config = ggufConfig(meta, tensors, path)
  requireTensors(config, tensors, path)
  return {
    path,
    format: 'gguf',
    name: meta.string('general.name', undefined) ?? basename(path, '.gguf'),
    config,
    tensors,
    tokenizer: ggufTokenizer(meta),
    chatTemplate: meta.string('tokenizer.chat_template', undefined)
  }
}

/** Per-pair RoPE frequency factors: the rope_freqs.weight tensor (Llama 3.x), or linear scaling's factor. */
function ropeFactors (meta: Metadata, tensors: ReadonlyMap<string, TensorEntry>, arch: string, ropeDim: number, path: string): number[] | undefined {
  const scaling = meta.string(`${arch}.rope.scaling.type`, undefined)
  if (scaling !== undefined && scaling !== 'none' && scaling !== 'linear') {
    throw new UnsupportedArchitectureError(`${arch} with ${scaling} RoPE scaling`, ARCHITECTURES.map(a => `${a} (RoPE unscaled, linear or Llama 3)`))
  }
  const freqs = tensors.get(ROPE_FREQS)
  if (freqs !== undefined) {
    if (freqs.dtype !== 'f32' || freqs.shape.length !== 1) throw new BadModelFileError(`${path}: ${ROPE_FREQS} must be an f32 vector`)
    const bytes = Buffer.alloc(freqs.byteLength)
    const fd = openSync(path, 'r')
    try { readSync(fd, bytes, 0, bytes.length, freqs.offset) } finally { closeSync(fd) }
    return Array.from(new Float32Array(bytes.buffer, bytes.byteOffset, bytes.length / 4))
  }
  const factor = meta.optionalNumber(`${arch}.rope.scaling.factor`)
  if (scaling === 'linear' && factor !== undefined && factor !== 1) return new Array<number>(ropeDim / 2).fill(factor)
  return undefined
}

/** Llama 3.x's per-pair RoPE frequency factors, as llama.cpp's converter writes them. */
export const ROPE_FREQS = 'rope_freqs.weight'

function ggufConfig (meta: Metadata, tensors: ReadonlyMap<string, TensorEntry>, path: string): ModelConfig {
  const architecture = asArchitecture(meta.string('general.architecture'))
  const k = (key: string): string => `${architecture}.${key}`
  const dim = meta.number(k('embedding_length'))
  const nHeads = meta.number(k('attention.head_count'))
  const headDim = meta.optionalNumber(k('attention.key_length')) ?? dim / nHeads
  const embedding = tensors.get(TensorNames.embedding)
  const vocabSize = meta.optionalNumber(k('vocab_size')) ?? meta.strings('tokenizer.ggml.tokens')?.length ?? embedding?.shape[0] ?? 0
  const ropeDim = meta.number(k('rope.dimension_count'), headDim)
  const ropeFreqFactors = ropeFactors(meta, tensors, architecture, ropeDim, path)
  return validateConfig({
    architecture,
    dim,
    hiddenDim: meta.number(k('feed_forward_length')),
    nLayers: meta.number(k('block_count')),
    nHeads,
    nKvHeads: meta.number(k('attention.head_count_kv'), nHeads),
    headDim,
    vocabSize,
    contextLength: meta.number(k('context_length')),
    normEps: meta.number(k('attention.layer_norm_rms_epsilon'), 1e-5),
    ropeTheta: meta.number(k('rope.freq_base'), 10000),
    ropeDim,
    // llama.cpp's converter permutes llama's Q/K rows to rotate adjacent pairs; qwen2 and qwen3 keep HF's halves
    ropeStyle: architecture === 'llama' ? 'interleaved' : 'neox',
    tiedEmbeddings: !tensors.has(TensorNames.output),
    qkvBias: tensors.has(TensorNames.layer(0, 'attn_q.bias')),
    ...(tensors.has(TensorNames.layer(0, 'attn_q_norm.weight')) ? { qkNorm: true as const } : {}),
    ...(ropeFreqFactors !== undefined ? { ropeFreqFactors } : {})
  }, meta.where)
}

function ggufTokenizer (meta: Metadata): TokenizerData | undefined {
  const model = meta.string('tokenizer.ggml.model', undefined)
  if (model === undefined) return undefined
  const tokens = meta.strings('tokenizer.ggml.tokens')
  if (tokens === undefined) throw new UnsupportedTokenizerError(`${meta.where}: tokenizer.ggml.tokens is missing`)
  const n = tokens.length
  const types = Int32Array.from(meta.numbers('tokenizer.ggml.token_type') ?? new Float64Array(n).fill(1))
  const eos = meta.number('tokenizer.ggml.eos_token_id', 2)
  const eot = meta.optionalNumber('tokenizer.ggml.eot_token_id')
  const extraEos = eot !== undefined && eot !== eos ? [eot] : []
  switch (model) {
    case 'llama':
      return {
        kind: 'spm',
        tokens,
        scores: Float32Array.from(meta.numbers('tokenizer.ggml.scores') ?? new Float64Array(n)),
        types,
        bos: meta.number('tokenizer.ggml.bos_token_id', 1),
        eos,
        unk: meta.number('tokenizer.ggml.unknown_token_id', 0),
        addBos: meta.bool('tokenizer.ggml.add_bos_token', true),
        addSpacePrefix: meta.bool('tokenizer.ggml.add_space_prefix', true),
        extraEos
      }
    case 'gpt2': {
      const bos = meta.optionalNumber('tokenizer.ggml.bos_token_id')
      return {
        kind: 'hf',
        tokenizerJson: bpeTokenizerJson({
          tokens,
          types,
          merges: meta.strings('tokenizer.ggml.merges') ?? [],
          pre: meta.string('tokenizer.ggml.pre', 'default') ?? 'default',
          where: meta.where
        }),
        tokenizerConfig: {},
        bos,
        eos: [eos, ...extraEos],
        addBos: meta.bool('tokenizer.ggml.add_bos_token', false)
      }
    }
    default:
      throw new UnsupportedTokenizerError(`${meta.where}: tokenizer model "${model}" is not supported (llama and gpt2 are)`)
  }
}

/**
 * Deterministic random-weight Llama models written as GGUF, for tests and benchmarks that need a
 * model of a given shape (no model hub here). Same seed, same bytes.
 */
import { type DType, encode } from '../tensor/index.ts'
import { type LayerPart, TensorNames } from './config.ts'
import { type MetaValue, type TensorToWrite, meta, writeGguf } from './gguf/writer.ts'

export interface ModelShape {
  dim: number
  hiddenDim: number
  nLayers: number
  nHeads: number
  nKvHeads: number
  vocabSize: number
  contextLength?: number
  tied?: boolean
}

/** dim 288, 6 layers: the shape of llama2.c's stories15M */
export const SHAPE_15M: ModelShape = { dim: 288, hiddenDim: 768, nLayers: 6, nHeads: 6, nKvHeads: 6, vocabSize: 32000, contextLength: 256, tied: true }
/** dim 576, 30 layers, GQA 9/3: the shape of SmolLM2-135M */
export const SHAPE_135M: ModelShape = { dim: 576, hiddenDim: 1536, nLayers: 30, nHeads: 9, nKvHeads: 3, vocabSize: 49152, contextLength: 2048, tied: true }

/** Uniform values in [-scale, scale) from a 32-bit LCG (fast, reproducible). */
export function randomF32 (n: number, seed: number, scale: number): Float32Array {
  const out = new Float32Array(n)
  let s = (seed * 2654435761) >>> 0
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0
    out[i] = ((s / 4294967296) * 2 - 1) * scale
  }
  return out
}

/** A byte-fallback SentencePiece vocabulary of `size` tokens: <unk>, <s>, </s>, 256 bytes, then filler pieces. */
export function syntheticVocab (size: number): { tokens: string[], scores: Float32Array, types: Int32Array } {
  const tokens = ['<unk>', '<s>', '</s>']
  const types = [2, 3, 3]
  for (let b = 0; b < 256 && tokens.length < size; b++) { tokens.push(`<0x${b.toString(16).toUpperCase().padStart(2, '0')}>`); types.push(6) }
  const letters = 'etaoinshrdlucmfwypvbgkjqxz'
  for (let i = 0; tokens.length < size; i++) {
    let piece = ''
    for (let k = i; ; k = Math.floor(k / letters.length) - 1) { piece = letters[k % letters.length] + piece; if (k < letters.length) break }
    tokens.push((i % 2 === 0 ? '\u2581' : '') + piece)
    types.push(1)
  }
  return { tokens, scores: Float32Array.from(tokens, (_, i) => -i), types: Int32Array.from(types) }
}

export interface SyntheticOptions {
  /** dtype of the matrices; norms stay f32 (default f32) */
  dtype?: DType
  seed?: number
  architecture?: 'llama' | 'qwen2'
}

export interface GgufSpec {
  metadata: Array<readonly [string, MetaValue]>
  tensors: TensorToWrite[]
}

/** Writes a random-weight model of `shape` to `path`. */
export function writeSyntheticGguf (path: string, shape: ModelShape, options: SyntheticOptions = {}): void {
  const spec = syntheticGgufSpec(shape, options)
  writeGguf(path, spec.metadata, spec.tensors)
}

/** The metadata and (lazily generated) tensors of a random-weight model, to write or to alter. */
export function syntheticGgufSpec (shape: ModelShape, options: SyntheticOptions = {}): GgufSpec {
  const { dim, hiddenDim, nLayers, nHeads, nKvHeads, vocabSize } = shape
  const arch = options.architecture ?? 'llama'
  const dtype = options.dtype ?? 'f32'
  const seed = options.seed ?? 1
  const headDim = dim / nHeads
  const kvDim = nKvHeads * headDim
  const vocab = syntheticVocab(vocabSize)
  const metadata: Array<readonly [string, MetaValue]> = [
    ['general.architecture', meta.str(arch)],
    ['general.name', meta.str(`synthetic-${dim}x${nLayers}-${dtype}`)],
    [`${arch}.context_length`, meta.u32(shape.contextLength ?? 512)],
    [`${arch}.embedding_length`, meta.u32(dim)],
    [`${arch}.block_count`, meta.u32(nLayers)],
    [`${arch}.feed_forward_length`, meta.u32(hiddenDim)],
    [`${arch}.attention.head_count`, meta.u32(nHeads)],
    [`${arch}.attention.head_count_kv`, meta.u32(nKvHeads)],
    [`${arch}.rope.dimension_count`, meta.u32(headDim)],
    [`${arch}.attention.layer_norm_rms_epsilon`, meta.f32(1e-5)],
    [`${arch}.rope.freq_base`, meta.f32(10000)],
    ['general.file_type', meta.u32(dtype === 'f32' ? 0 : dtype === 'f16' ? 1 : dtype === 'q4_0' ? 2 : dtype === 'q8_0' ? 7 : 0)],
    ['tokenizer.ggml.model', meta.str('llama')],
    ['tokenizer.ggml.tokens', meta.strings(vocab.tokens)],
    ['tokenizer.ggml.scores', meta.f32s(vocab.scores)],
    ['tokenizer.ggml.token_type', meta.i32s(vocab.types)],
    ['tokenizer.ggml.bos_token_id', meta.u32(1)],
    ['tokenizer.ggml.eos_token_id', meta.u32(2)],
    ['tokenizer.ggml.unknown_token_id', meta.u32(0)]
  ]
  let n = 0
  const matrix = (name: string, rows: number, cols: number): TensorToWrite =>
    ({ name, dtype, shape: [rows, cols], data: ((s) => () => encode(dtype, randomF32(rows * cols, s, 1 / Math.sqrt(cols))))(seed * 1000 + n++) })
  const vector = (name: string, len: number, value: (i: number) => number): TensorToWrite =>
    ({ name, dtype: 'f32', shape: [len], data: () => encode('f32', Float32Array.from({ length: len }, (_, i) => value(i))) })
  const tensors: TensorToWrite[] = [matrix(TensorNames.embedding, vocabSize, dim)]
  for (let l = 0; l < nLayers; l++) {
    const name = (part: LayerPart): string => TensorNames.layer(l, part)
    tensors.push(
      vector(name('attn_norm.weight'), dim, () => 1),
      matrix(name('attn_q.weight'), dim, dim),
      matrix(name('attn_k.weight'), kvDim, dim),
      matrix(name('attn_v.weight'), kvDim, dim)
    )
    if (arch === 'qwen2') {
      const bias = (part: LayerPart, len: number): TensorToWrite => vector(name(part), len, i => Math.sin(i + l) * 0.1)
      tensors.push(bias('attn_q.bias', dim), bias('attn_k.bias', kvDim), bias('attn_v.bias', kvDim))
    }
    tensors.push(
      matrix(name('attn_output.weight'), dim, dim),
      vector(name('ffn_norm.weight'), dim, () => 1),
      matrix(name('ffn_gate.weight'), hiddenDim, dim),
      matrix(name('ffn_up.weight'), hiddenDim, dim),
      matrix(name('ffn_down.weight'), dim, hiddenDim)
    )
  }
  tensors.push(vector(TensorNames.outputNorm, dim, () => 1))
  if (shape.tied === false) tensors.push(matrix(TensorNames.output, vocabSize, dim))
  return { metadata, tensors }
}

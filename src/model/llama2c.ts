/**
 * llama2.c checkpoints (version 0, as written by its export.py --version 0 / the tinyllamas
 * release): a 7×i32 header `dim, hiddenDim, nLayers, nHeads, nKvHeads, vocabSize, seqLen` (a
 * negative vocabSize means an untied classifier is stored at the end), then f32 tensors grouped by
 * kind across layers.
 */
import { closeSync, fstatSync, openSync, readSync } from 'node:fs'
import { basename } from 'node:path'
import { BadModelFileError } from '../util/errors.ts'
import { type ModelConfig, TensorNames, type LayerPart, validateConfig } from './config.ts'
import { openOrThrow } from './files.ts'
import { type ModelSource, type TensorEntry, type TokenizerData, checkExtents } from './source.ts'

const HEADER_BYTES = 28
const MAGIC_V1 = 0x616b3432 // "ak42": export.py version 1 and later

export function openLlama2c (path: string, tokenizer: TokenizerData | undefined): ModelSource {
  const fd = openOrThrow(path, openSync)
  let header: Int32Array
  let fileSize: number
  try {
    fileSize = fstatSync(fd).size
    if (fileSize < HEADER_BYTES) throw new BadModelFileError(`${path}: truncated llama2.c checkpoint (${fileSize} bytes)`)
    const buf = Buffer.alloc(HEADER_BYTES)
    readSync(fd, buf, 0, HEADER_BYTES, 0)
    header = new Int32Array(buf.buffer, buf.byteOffset, 7)
  } finally {
    closeSync(fd)
  }
  if (header[0] === MAGIC_V1) throw new BadModelFileError(`${path}: llama2.c checkpoint versions 1+ are not supported; export with --version 0 or convert to GGUF`)
  const [dim, hiddenDim, nLayers, nHeads, nKvHeads, rawVocab, seqLen] = Array.from(header) as [number, number, number, number, number, number, number]
  const tied = rawVocab > 0
  const vocabSize = Math.abs(rawVocab)
  const headDim = dim / nHeads
  const config = validateConfig({
    architecture: 'llama',
    dim, hiddenDim, nLayers, nHeads, nKvHeads, headDim, vocabSize,
    contextLength: seqLen,
    normEps: 1e-5,
    ropeTheta: 10000,
    ropeDim: headDim,
    ropeStyle: 'interleaved',
    tiedEmbeddings: tied,
    qkvBias: false
  }, `${path} (llama2.c header)`)
  if (!Number.isInteger(headDim)) throw new BadModelFileError(`${path}: dim ${dim} is not a multiple of ${nHeads} heads`)

  const tensors = new Map<string, TensorEntry>()
  let offset = HEADER_BYTES
  const add = (name: string, shape: number[]): void => {
    const byteLength = shape.reduce((a, b) => a * b, 4)
    tensors.set(name, { name, dtype: 'f32', shape, file: path, offset, byteLength })
    offset += byteLength
  }
  const perLayer = (part: LayerPart, shape: number[]): void => {
    for (let l = 0; l < nLayers; l++) add(TensorNames.layer(l, part), shape)
  }
  const kvDim = nKvHeads * headDim
  add(TensorNames.embedding, [vocabSize, dim])
  perLayer('attn_norm.weight', [dim])
  perLayer('attn_q.weight', [dim, dim])
  perLayer('attn_k.weight', [kvDim, dim])
  perLayer('attn_v.weight', [kvDim, dim])
  perLayer('attn_output.weight', [dim, dim])
  perLayer('ffn_norm.weight', [dim])
  perLayer('ffn_gate.weight', [hiddenDim, dim])
  perLayer('ffn_down.weight', [dim, hiddenDim])
  perLayer('ffn_up.weight', [hiddenDim, dim])
  add(TensorNames.outputNorm, [dim])
  offset += 2 * seqLen * (headDim / 2) * 4 // legacy freq_cis_real / freq_cis_imag tables, unused
  if (!tied) add(TensorNames.output, [vocabSize, dim])
  checkExtents(tensors.values(), new Map([[path, fileSize]]))
  return { path, format: 'llama2c', name: basename(path, '.bin'), config, tensors, tokenizer, chatTemplate: undefined }
}

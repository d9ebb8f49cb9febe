/**
 * llama2.c's tokenizer.bin: i32 max_token_length, then per token an f32 score, an i32 byte length
 * and the bytes. Pieces use a plain space where GGUF uses ▁; ids 0, 1, 2 are <unk>, BOS, EOS.
 */
import { readFile } from 'node:fs/promises'
import { BadModelFileError } from '../../util/errors.ts'
import { fileError } from '../files.ts'
import type { SpmTokenizerData } from '../source.ts'

const BYTE_PIECE = /^<0x[0-9A-Fa-f]{2}>$/

export async function readLlama2cTokenizer (path: string, vocabSize: number, options: { signal?: AbortSignal } = {}): Promise<SpmTokenizerData> {
  let buf: Buffer
  try {
    buf = await readFile(path, { signal: options.signal })
  } catch (err) {
    throw fileError(path, err)
  }
  const truncated = (): never => { throw new BadModelFileError(`${path}: truncated llama2.c tokenizer (expected ${vocabSize} tokens)`) }
  if (buf.length < 4) truncated()
  const tokens: string[] = []
  const scores = new Float32Array(vocabSize)
  const types = new Int32Array(vocabSize)
  let o = 4
  for (let id = 0; id < vocabSize; id++) {
    if (o + 8 > buf.length) truncated()
    scores[id] = buf.readFloatLE(o)
    const len = buf.readInt32LE(o + 4)
    o += 8
    if (len < 0 || o + len > buf.length) truncated()
    const text = buf.toString('utf8', o, o + len)
    o += len
    if (id === 0) { tokens.push('<unk>'); types[id] = 2 } else if (id === 1) { tokens.push('<s>'); types[id] = 3 } else if (id === 2) { tokens.push('</s>'); types[id] = 3 } else if (BYTE_PIECE.test(text)) {
      tokens.push(text); types[id] = 6
    } else {
      tokens.push(text.replaceAll(' ', '\u2581')); types[id] = 1
    }
  }
  return {
    kind: 'spm',
    tokens,
    scores,
    types,
    bos: 1,
    eos: 2,
    unk: 0,
    addBos: true,
    addSpacePrefix: true,
    // llama2.c's run.c ends a generation when the model emits BOS (it separates stories)
    extraEos: [1]
  }
}

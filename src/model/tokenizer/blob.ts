/**
 * A tokenizer and chat template as one blob of bytes (UTF-8 JSON), so a peer without the model file
 * can fetch them from the swarm like a tensor and check them against the model's manifest.
 * The same data always gives the same bytes.
 */
import { BadModelFileError } from '../../util/errors.ts'
import type { TokenizerData } from '../source.ts'

interface Blob {
  readonly tokenizer: unknown
  readonly chatTemplate: string | null
}

export function encodeTokenizer (tokenizer: TokenizerData, chatTemplate: string | undefined): Uint8Array {
  const data = tokenizer.kind === 'spm'
    ? { ...tokenizer, scores: Array.from(tokenizer.scores), types: Array.from(tokenizer.types) }
    : tokenizer
  const blob: Blob = { tokenizer: data, chatTemplate: chatTemplate ?? null }
  return new TextEncoder().encode(JSON.stringify(blob))
}

const isIntArray = (v: unknown): v is number[] => Array.isArray(v) && v.every(x => Number.isInteger(x))
const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v)

/** The tokenizer data and chat template of a blob; throws BadModelFileError on anything malformed. */
export function decodeTokenizer (bytes: Uint8Array): { tokenizer: TokenizerData, chatTemplate: string | undefined } {
  let blob: Blob
  try {
    blob = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes)) as Blob
  } catch {
    throw new BadModelFileError('the tokenizer blob is not UTF-8 JSON')
  }
  const t = blob?.tokenizer as Record<string, unknown> | undefined
  const chatTemplate = blob?.chatTemplate === null ? undefined : blob?.chatTemplate
  if (!isObject(t) || (chatTemplate !== undefined && typeof chatTemplate !== 'string')) throw new BadModelFileError('the tokenizer blob has no tokenizer')
  if (t.kind === 'spm') {
    const { tokens, scores, types } = t
    if (!Array.isArray(tokens) || !tokens.every(x => typeof x === 'string') || !Array.isArray(scores) || !scores.every(x => typeof x === 'number') ||
      !isIntArray(types) || scores.length !== tokens.length || types.length !== tokens.length ||
      !Number.isInteger(t.bos) || !Number.isInteger(t.eos) || !Number.isInteger(t.unk) || typeof t.addBos !== 'boolean' || typeof t.addSpacePrefix !== 'boolean' ||
      (t.extraEos !== undefined && !isIntArray(t.extraEos))) {
      throw new BadModelFileError('the tokenizer blob has a malformed SentencePiece vocabulary')
    }
    return { tokenizer: { ...(t as unknown as TokenizerData & { kind: 'spm' }), scores: Float32Array.from(scores), types: Int32Array.from(types) }, chatTemplate }
  }
  if (t.kind === 'hf') {
    if (!isObject(t.tokenizerJson) || !isObject(t.tokenizerConfig) || !isIntArray(t.eos) || typeof t.addBos !== 'boolean' || (t.bos !== undefined && !Number.isInteger(t.bos))) {
      throw new BadModelFileError('the tokenizer blob has a malformed Hugging Face tokenizer')
    }
    return { tokenizer: t as unknown as TokenizerData, chatTemplate }
  }
  throw new BadModelFileError(`the tokenizer blob has an unknown tokenizer kind "${String(t.kind)}"`)
}

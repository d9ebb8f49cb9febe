/**
 * GGUF stores byte-level BPE vocabularies (`tokenizer.ggml.model = gpt2`) as token and merge lists
 * plus the name of the pre-tokenizer. This rebuilds the equivalent tokenizer.json so the same
 * maintained library encodes both. The pre-tokenizer configs are the ones the original models'
 * tokenizer.json files declare.
 */
import { UnsupportedTokenizerError } from '../../util/errors.ts'

const LLAMA3_SPLIT = "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"
const QWEN2_SPLIT = "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"

const byteLevel = (useRegex: boolean): Record<string, unknown> =>
  ({ type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: useRegex })
const split = (regex: string): Record<string, unknown> =>
  ({ type: 'Split', pattern: { Regex: regex }, behavior: 'Isolated', invert: false })

/** `tokenizer.ggml.pre` → tokenizer.json `pre_tokenizer`. */
const PRE_TOKENIZERS: Readonly<Record<string, Record<string, unknown>>> = {
  default: byteLevel(true),
  gpt2: byteLevel(true),
  'llama-bpe': { type: 'Sequence', pretokenizers: [split(LLAMA3_SPLIT), byteLevel(false)] },
  llama3: { type: 'Sequence', pretokenizers: [split(LLAMA3_SPLIT), byteLevel(false)] },
  qwen2: { type: 'Sequence', pretokenizers: [split(QWEN2_SPLIT), byteLevel(false)] },
  smollm: { type: 'Sequence', pretokenizers: [{ type: 'Digits', individual_digits: true }, byteLevel(true)] }
}

export const supportedPreTokenizers = Object.keys(PRE_TOKENIZERS)

export interface GgufBpe {
  readonly tokens: readonly string[]
  readonly types: Int32Array
  readonly merges: readonly string[]
  readonly pre: string
  readonly where: string
}

export function bpeTokenizerJson (bpe: GgufBpe): Record<string, unknown> {
  const preTokenizer = PRE_TOKENIZERS[bpe.pre]
  if (preTokenizer === undefined) {
    throw new UnsupportedTokenizerError(`${bpe.where}: pre-tokenizer "${bpe.pre}" is not supported (supported: ${supportedPreTokenizers.join(', ')})`)
  }
  const vocab: Record<string, number> = {}
  const added: Array<Record<string, unknown>> = []
  bpe.tokens.forEach((token, id) => {
    const type = bpe.types[id] ?? 1
    if (type === 3 || type === 4) {
      // control tokens are special; user-defined ones are plain added tokens
      added.push({ id, content: token, special: type === 3, single_word: false, lstrip: false, rstrip: false, normalized: type === 4 })
    }
    vocab[token] ??= id
  })
  return {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: added,
    normalizer: null,
    pre_tokenizer: preTokenizer,
    post_processor: null,
    decoder: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: true, use_regex: true },
    model: {
      type: 'BPE',
      dropout: null,
      unk_token: null,
      continuing_subword_prefix: null,
      end_of_word_suffix: null,
      fuse_unk: false,
      byte_fallback: false,
      ignore_merges: bpe.pre === 'llama-bpe' || bpe.pre === 'llama3',
      vocab,
      merges: bpe.merges
    }
  }
}

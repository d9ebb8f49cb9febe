import type { TokenizerData } from '../source.ts'
import { HfTokenizer } from './hf.ts'
import { SpmTokenizer } from './spm.ts'
import type { Tokenizer } from './types.ts'

export type { Tokenizer, EncodeOptions } from './types.ts'
export { StreamDecoder, decode } from './stream.ts'
export { readLlama2cTokenizer } from './llama2c.ts'

export function createTokenizer (data: TokenizerData): Tokenizer {
  return data.kind === 'spm' ? new SpmTokenizer(data) : new HfTokenizer(data)
}

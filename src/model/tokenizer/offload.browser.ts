/**
 * The browser's side of offload.ts (the web build swaps it in): a tab tokenizes inline, on the
 * thread that asked (its prompts are typed by hand; the Node API is what takes megabyte bodies).
 */
import { throwIfAborted } from '../../util/errors.ts'
import type { TokenizerData } from '../source.ts'
import type { EncodeOptions, Tokenizer } from './types.ts'

export const INLINE_CHARS = Infinity

export class OffloadedTokenizer {
  constructor (private readonly tokenizer: Tokenizer, _data: TokenizerData | undefined) {}

  async encode (text: string, options: EncodeOptions & { signal?: AbortSignal } = {}): Promise<number[]> {
    throwIfAborted(options.signal)
    return this.tokenizer.encode(text, options)
  }

  async close (): Promise<void> {}
}

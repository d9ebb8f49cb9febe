import type { Tokenizer } from './types.ts'

/**
 * Turns tokens into text as they arrive without ever emitting a broken UTF-8 character: bytes of
 * a character split across tokens are held until the character is complete.
 */
export class StreamDecoder {
  private readonly utf8 = new TextDecoder('utf-8')
  private prev: number | undefined

  /** `prev`: the token before the first one pushed (e.g. the prompt's last), for the BOS space rule. */
  constructor (private readonly tokenizer: Tokenizer, prev?: number) {
    this.prev = prev
  }

  /** The text that became complete with this token (possibly empty). */
  push (id: number): string {
    let bytes = this.tokenizer.tokenBytes(id)
    const atStart = this.prev === undefined || this.prev === this.tokenizer.bos
    if (atStart && this.tokenizer.stripLeadingSpace && bytes[0] === 0x20) bytes = bytes.subarray(1)
    this.prev = id
    return this.utf8.decode(bytes, { stream: true })
  }

  /** Whatever is left (an incomplete character becomes U+FFFD). */
  flush (): string {
    return this.utf8.decode()
  }
}

/** Decodes a whole sequence the way streaming would. */
export function decode (tokenizer: Tokenizer, ids: readonly number[], prev?: number): string {
  const d = new StreamDecoder(tokenizer, prev)
  let text = ''
  for (const id of ids) text += d.push(id)
  return text + d.flush()
}

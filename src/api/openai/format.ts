/** Log-probabilities in OpenAI's shapes: chat's per-token objects and completions' parallel lists. */
import type { TokenLogprob, Tokenizer } from '../../model/index.ts'
import type { ChatTokenLogprob, CompletionLogprobs } from './types.ts'

const utf8 = new TextDecoder()

/** A token's text (control tokens by their name) and raw bytes. */
export function tokenText (tokenizer: Tokenizer, id: number): { token: string, bytes: number[] } {
  const bytes = tokenizer.tokenBytes(id)
  return bytes.length === 0 ? { token: tokenizer.piece(id), bytes: [] } : { token: utf8.decode(bytes), bytes: [...bytes] }
}

export function chatLogprob (tokenizer: Tokenizer, lp: TokenLogprob): ChatTokenLogprob {
  return {
    ...tokenText(tokenizer, lp.id),
    logprob: lp.logprob,
    top_logprobs: lp.top.map(t => ({ ...tokenText(tokenizer, t.id), logprob: t.logprob }))
  }
}

/** Completions' logprobs for tokens whose text starts at `offset` characters into the choice. */
export function completionLogprobs (tokenizer: Tokenizer, lps: readonly TokenLogprob[], offset = 0): CompletionLogprobs {
  const out: CompletionLogprobs = { tokens: [], token_logprobs: [], top_logprobs: [], text_offset: [] }
  for (const lp of lps) {
    const { token } = tokenText(tokenizer, lp.id)
    out.tokens.push(token)
    out.token_logprobs.push(lp.logprob)
    out.top_logprobs.push(Object.fromEntries(lp.top.map(t => [tokenText(tokenizer, t.id).token, t.logprob])))
    out.text_offset.push(offset)
    offset += token.length
  }
  return out
}

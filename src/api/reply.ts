/**
 * One choice's reply, built token by token for any protocol: its text, its tool calls (parsed
 * from the text when tools are offered; streamed as they are generated when a call is forced) and
 * its tokens' log-probabilities. Routes turn the deltas into their own frames.
 */
import { randomUUID } from 'node:crypto'
import { type FinishReason, ForcedCallStream, type GeneratedToken, type TokenLogprob, ToolCallStream } from '../model/index.ts'

/** none: plain text; auto: the model may call a tool (parsed from its text); forced: the output is a call. */
export type ToolMode = 'none' | 'auto' | 'forced'

export interface ToolCallOut {
  readonly id: string
  readonly name: string
  /** JSON text of the arguments object */
  readonly arguments: string
}

/** A piece of a tool call: the first carries id and name, the rest more argument text. */
export interface CallDelta {
  readonly index: number
  readonly id: string
  readonly name?: string
  readonly args: string
}

export interface ReplyDelta {
  readonly content: string
  readonly logprobs: readonly TokenLogprob[]
  readonly calls: readonly CallDelta[]
}

export type ReplyFinish = FinishReason | 'tool_calls'

export const callId = (): string => `call_${randomUUID().replaceAll('-', '').slice(0, 24)}`

export class Reply {
  content = ''
  readonly logprobs: TokenLogprob[] = []
  calls: ToolCallOut[] = []
  private readonly auto: ToolCallStream | undefined
  private readonly forced: ForcedCallStream | undefined
  private forcedId: string | undefined
  private forcedArgs = ''

  constructor (readonly mode: ToolMode, private readonly known?: ReadonlySet<string>) {
    if (mode === 'auto') this.auto = new ToolCallStream(known)
    if (mode === 'forced') this.forced = new ForcedCallStream()
  }

  push (token: GeneratedToken): ReplyDelta {
    if (token.logprob !== undefined) this.logprobs.push(token.logprob)
    const logprobs = token.logprob === undefined ? [] : [token.logprob]
    if (this.forced !== undefined) return { content: '', logprobs, calls: this.forcedDelta(this.forced.push(token.text)) }
    const content = this.auto !== undefined ? this.auto.push(token.text) : token.text
    this.content += content
    return { content, logprobs, calls: [] }
  }

  private forcedDelta (piece: { name?: string, args: string }): CallDelta[] {
    const out: CallDelta[] = []
    if (piece.name !== undefined) {
      this.forcedId = callId()
      out.push({ index: 0, id: this.forcedId, name: piece.name, args: '' })
    }
    if (piece.args !== '' && this.forcedId !== undefined) {
      this.forcedArgs += piece.args
      out.push({ index: 0, id: this.forcedId, args: piece.args })
    }
    return out
  }

  /** The last delta and why the reply ended. */
  finish (reason: FinishReason | undefined): { delta: ReplyDelta, finish: ReplyFinish } {
    const ended = reason ?? 'stop'
    if (this.forced !== undefined) {
      const { args, call } = this.forced.finish(this.known)
      const calls = this.forcedDelta({ args })
      if (this.forcedId !== undefined) this.calls = [{ id: this.forcedId, name: this.forced.name!, arguments: call?.arguments ?? this.forcedArgs }]
      return { delta: { content: '', logprobs: [], calls }, finish: call !== undefined ? 'tool_calls' : ended }
    }
    if (this.auto !== undefined) {
      const { content, calls } = this.auto.finish()
      this.content += content
      this.calls = calls.map(c => ({ id: callId(), ...c }))
      const deltas = this.calls.flatMap((c, index) => [{ index, id: c.id, name: c.name, args: c.arguments }])
      return { delta: { content, logprobs: [], calls: deltas }, finish: this.calls.length > 0 ? 'tool_calls' : ended }
    }
    return { delta: { content: '', logprobs: [], calls: [] }, finish: ended }
  }
}

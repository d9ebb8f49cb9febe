/**
 * Tool calls in model output, for the common template families: Hermes/Qwen
 * `<tool_call>{"name", "arguments"}</tool_call>`, Mistral `[TOOL_CALLS] [{...}]` (or
 * `[TOOL_CALLS]name[ARGS]{...}`), Llama 3 JSON `{"name", "parameters"}` (after `<|python_tag|>` or
 * as the whole reply). A forced call (tool_choice required or named) is generated as
 * `{"name", "arguments"}` under a grammar (toolCallSchema), which the same parser reads.
 */

export interface ParsedToolCall {
  readonly name: string
  /** the arguments object as JSON text */
  readonly arguments: string
}

export interface ToolFunction {
  readonly name: string
  readonly parameters?: Record<string, unknown>
}

const MARKERS = ['<tool_call>', '[TOOL_CALLS]', '<|python_tag|>'] as const

function asCall (value: unknown, known: ReadonlySet<string> | undefined): ParsedToolCall | undefined {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return undefined
  const v = value as Record<string, unknown>
  const name = v.name ?? (v.function as Record<string, unknown> | undefined)?.name
  let args = v.arguments ?? v.parameters ?? (v.function as Record<string, unknown> | undefined)?.arguments ?? {}
  if (typeof args === 'string') { try { args = JSON.parse(args) } catch { return undefined } }
  if (typeof name !== 'string' || (known !== undefined && !known.has(name))) return undefined
  if (typeof args !== 'object' || args === null || Array.isArray(args)) return undefined
  return { name, arguments: JSON.stringify(args) }
}

function parseJson (text: string): unknown {
  try { return JSON.parse(text) } catch { return undefined }
}

/** Calls in one JSON text: an object or a list of them (all must be calls). */
function callsIn (text: string, known: ReadonlySet<string> | undefined): ParsedToolCall[] {
  const v = parseJson(text.trim())
  const list = Array.isArray(v) ? v : [v]
  const calls = list.map(x => asCall(x, known))
  return calls.length > 0 && calls.every(c => c !== undefined) ? calls as ParsedToolCall[] : []
}

/** Splits output into its text and the tool calls in it; `known`: the names that may be called. */
export function parseToolCalls (text: string, known?: ReadonlySet<string>): { content: string, calls: ParsedToolCall[] } {
  const hermes = [...text.matchAll(/<tool_call>([\s\S]*?)(?:<\/tool_call>|$)/g)]
  if (hermes.length > 0) {
    const calls = hermes.flatMap(m => callsIn(m[1]!, known))
    if (calls.length > 0) return { content: text.replace(/<tool_call>[\s\S]*?(?:<\/tool_call>|$)/g, '').trim(), calls }
  }
  const mistral = text.indexOf('[TOOL_CALLS]')
  if (mistral >= 0) {
    const rest = text.slice(mistral + '[TOOL_CALLS]'.length)
    let calls = callsIn(rest, known)
    if (calls.length === 0) {
      calls = [...rest.matchAll(/([\w.-]+)\[ARGS\](\{[\s\S]*?\})(?=\s*(?:[\w.-]+\[ARGS\]|$))/g)]
        .map(m => asCall({ name: m[1], arguments: m[2] }, known)).filter((c): c is ParsedToolCall => c !== undefined)
    }
    if (calls.length > 0) return { content: text.slice(0, mistral).trim(), calls }
  }
  const tag = text.indexOf('<|python_tag|>')
  const json = tag >= 0 ? text.slice(tag + '<|python_tag|>'.length) : text
  const calls = callsIn(json.replace(/<\|(eom_id|eot_id)\|>\s*$/, ''), known)
  if (calls.length > 0) return { content: tag >= 0 ? text.slice(0, tag).trim() : '', calls }
  return { content: text, calls: [] }
}

/**
 * Streams a reply that may contain tool calls (tool_choice auto): text is released as it comes,
 * except what may be the start of a call (a marker, possibly split across tokens, or a reply that
 * opens with `{`), which is held until the end and then parsed.
 */
export class ToolCallStream {
  private all = ''
  private released = 0
  private heldFrom = -1

  constructor (private readonly known?: ReadonlySet<string>) {}

  /** Text safe to show now. */
  push (text: string): string {
    this.all += text
    if (this.heldFrom >= 0) return ''
    const all = this.all
    let cut = all.length
    for (const m of MARKERS) {
      const at = all.indexOf(m, this.released)
      if (at >= 0 && at < cut) cut = at
    }
    const lead = all.length - all.trimStart().length
    if (this.released === 0 && (all.trim() === '' || all[lead] === '{' || all[lead] === '[')) cut = 0
    if (cut < all.length) this.heldFrom = cut
    else cut -= heldBack(all)
    const out = all.slice(this.released, Math.max(this.released, cut))
    this.released = Math.max(this.released, cut)
    return out
  }

  /** The rest of the text (not yet shown) and the calls, once the reply is complete. */
  finish (): { content: string, calls: ParsedToolCall[] } {
    const rest = this.all.slice(this.released)
    const { content, calls } = parseToolCalls(rest, this.known)
    return calls.length > 0 ? { content, calls } : { content: rest, calls: [] }
  }
}

/** Length of the longest suffix of `s` that is a proper prefix of a marker. */
function heldBack (s: string): number {
  let best = 0
  for (const m of MARKERS) {
    for (let k = Math.min(m.length - 1, s.length); k > best; k--) if (s.endsWith(m.slice(0, k))) { best = k; break }
  }
  return best
}

const FORCED_HEAD = /^\s*\{\s*"name"\s*:\s*("(?:[^"\\]|\\.)*")\s*,\s*"arguments"\s*:\s*/

/**
 * Streams a forced call `{"name": ..., "arguments": {...}}` as it is generated: the name once it
 * is complete, then the arguments piece by piece (the outer closing brace held back).
 */
export class ForcedCallStream {
  private all = ''
  private argsFrom = -1
  private sent = 0
  name: string | undefined

  /** New argument text (and the name, the first time it is known). */
  push (text: string): { name?: string, args: string } {
    this.all += text
    let name: string | undefined
    if (this.argsFrom < 0) {
      const m = FORCED_HEAD.exec(this.all)
      if (m === null) return { args: '' }
      this.name = name = JSON.parse(m[1]!) as string
      this.argsFrom = this.sent = m[0].length
    }
    const end = this.all.length - /\}?\s*$/.exec(this.all)![0].length
    const args = end > this.sent ? this.all.slice(this.sent, end) : ''
    this.sent = Math.max(this.sent, end)
    return name === undefined ? { args } : { name, args }
  }

  /** The arguments not sent yet, and the whole call (undefined if the output is not a call). */
  finish (known?: ReadonlySet<string>): { args: string, call: ParsedToolCall | undefined } {
    const call = callsIn(this.all, known)[0]
    const end = this.all.length - (/\s*\}\s*$/.exec(this.all)?.[0].length ?? 0)
    const args = this.argsFrom >= 0 && end > this.sent ? this.all.slice(this.sent, end) : ''
    return { args, call }
  }
}

/** The schema of a forced call: one of `tools` by name, with its arguments. */
export function toolCallSchema (tools: readonly ToolFunction[]): Record<string, unknown> {
  const branch = (t: ToolFunction): Record<string, unknown> => ({
    type: 'object',
    properties: { name: { const: t.name }, arguments: { type: 'object', ...(t.parameters ?? { properties: {} }) } },
    required: ['name', 'arguments'],
    additionalProperties: false
  })
  return tools.length === 1 ? branch(tools[0]!) : { anyOf: tools.map(branch) }
}

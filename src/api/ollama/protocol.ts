/**
 * The part of Ollama's native API we serve (/api/chat, /api/generate, /api/tags): request and
 * response types after Ollama's API documentation, one validator per endpoint with its explicit
 * unsupported-fields list, and Ollama's sampling defaults.
 */
import type { ChatMessage, FinishReason, GenerateOptions, ToolSpec } from '../../model/index.ts'
import { InvalidArgumentError } from '../../util/errors.ts'
import { Fields, type UnsupportedFields, isEmptyArray, isEmptyString, isFalse, never } from '../fields.ts'
import { type OutputFormat, readTools } from '../structured.ts'

// ---- requests

/** The subset of Ollama's `options` we honour; the others (num_ctx, num_thread...) are ignored. */
export interface OllamaOptions {
  temperature?: number
  top_p?: number
  top_k?: number
  min_p?: number
  seed?: number
  /** tokens to generate; -1 or -2: until the context is full */
  num_predict?: number
  stop?: string[]
  repeat_penalty?: number
  repeat_last_n?: number
  presence_penalty?: number
  frequency_penalty?: number
}

export interface OllamaToolCall {
  function: { name: string, arguments: Record<string, unknown> }
}

export interface OllamaMessage {
  role: 'system' | 'user' | 'assistant' | 'tool'
  content: string
  tool_calls?: OllamaToolCall[]
  tool_name?: string
}

interface OllamaRequestBase {
  model: string
  /** default true */
  stream: boolean
  options: OllamaOptions
  /** "json" or a JSON schema: constrained decoding */
  format?: OutputFormat
  /** alternatives per token; undefined: no logprobs */
  top_logprobs?: number
}

export interface OllamaChatRequest extends OllamaRequestBase {
  messages: OllamaMessage[]
  tools: ToolSpec[]
}

export interface OllamaGenerateRequest extends OllamaRequestBase {
  prompt: string
  system?: string
  /** true: the prompt goes to the model as is, without the chat template */
  raw: boolean
}

// ---- responses

export interface OllamaTiming {
  /** nanoseconds, as Ollama reports them */
  total_duration: number
  load_duration: number
  prompt_eval_count: number
  prompt_eval_duration: number
  eval_count: number
  eval_duration: number
}

interface OllamaPartBase {
  model: string
  created_at: string
  done: boolean
}
export interface OllamaLogprob {
  token: string
  logprob: number
  bytes: number[]
  top_logprobs?: Array<{ token: string, logprob: number, bytes: number[] }>
}

export interface OllamaChatPart extends OllamaPartBase {
  message: { role: 'assistant', content: string, tool_calls?: OllamaToolCall[] }
  logprobs?: OllamaLogprob[]
}
export interface OllamaGeneratePart extends OllamaPartBase {
  response: string
  logprobs?: OllamaLogprob[]
}
export type OllamaDone = Partial<OllamaTiming> & { done: true, done_reason: FinishReason | 'load', gridllm?: { audits: number, audit_failures: number } }

export interface OllamaTag {
  name: string
  model: string
  modified_at: string
  size: number
  digest: string
  details: { family: string, families: string[], parameter_size: string }
}

// ---- validators

const COMMON_UNSUPPORTED: UnsupportedFields = {
  think: isFalse,
  images: isEmptyArray
}

export const CHAT_UNSUPPORTED: UnsupportedFields = { ...COMMON_UNSUPPORTED }
export const GENERATE_UNSUPPORTED: UnsupportedFields = {
  ...COMMON_UNSUPPORTED,
  tools: isEmptyArray,
  suffix: isEmptyString,
  template: isEmptyString,
  context: isEmptyArray
}
const MESSAGE_UNSUPPORTED: UnsupportedFields = { images: isEmptyArray, thinking: isEmptyString }
const OPTIONS_UNSUPPORTED: UnsupportedFields = { mirostat: v => v === 0, tfs_z: v => v === 1, typical_p: v => v === 1, penalize_newline: never }

function options (f: Fields): OllamaOptions {
  const o = f.object('options', OPTIONS_UNSUPPORTED)
  if (o === undefined) return {}
  return {
    temperature: o.number('temperature', { min: 0 }),
    top_p: o.number('top_p', { min: 0, max: 1 }),
    top_k: o.number('top_k', { min: 0, integer: true }),
    min_p: o.number('min_p', { min: 0, max: 1 }),
    seed: o.number('seed', { integer: true }),
    num_predict: o.number('num_predict', { min: -2, integer: true }),
    stop: o.strings('stop', 16),
    repeat_penalty: o.number('repeat_penalty', { min: 0 }),
    repeat_last_n: o.number('repeat_last_n', { min: -1, integer: true }),
    presence_penalty: o.number('presence_penalty', { min: -2, max: 2 }),
    frequency_penalty: o.number('frequency_penalty', { min: -2, max: 2 })
  }
}

/** `format`: "json", a JSON schema, or "" (none). */
function format (f: Fields): OutputFormat | undefined {
  const v = f.raw('format')
  if (v === undefined || v === '') return undefined
  if (v === 'json') return { type: 'json_object' }
  if (typeof v === 'object' && !Array.isArray(v)) return { type: 'json_schema', schema: v, param: 'format' }
  throw new InvalidArgumentError('format must be "json" or a JSON schema object', { param: 'format' })
}

/** logprobs (true/false) and top_logprobs (0-20). */
function logprobs (f: Fields): number | undefined {
  const top = f.number('top_logprobs', { min: 0, max: 20, integer: true })
  return f.boolean('logprobs') === true ? top ?? 0 : undefined
}

function toolCall (value: unknown, at: string): OllamaToolCall {
  const fn = new Fields(value, {}, at).object('function')
  if (fn === undefined) throw new InvalidArgumentError(`${at}.function is required`, { param: `${at}.function` })
  const args = fn.raw('arguments') ?? {}
  if (typeof args !== 'object' || Array.isArray(args)) throw new InvalidArgumentError(`${fn.param('arguments')} must be an object`, { param: fn.param('arguments') })
  return { function: { name: fn.requiredString('name'), arguments: args as Record<string, unknown> } }
}

const ROLES = new Set(['system', 'user', 'assistant', 'tool'])

export function validateChat (body: unknown): OllamaChatRequest {
  const f = new Fields(body, CHAT_UNSUPPORTED)
  const messages = (f.array('messages') ?? []).map((m, i) => {
    const mf = new Fields(m, MESSAGE_UNSUPPORTED, `messages[${i}]`)
    const role = mf.requiredString('role')
    if (!ROLES.has(role)) throw new InvalidArgumentError(`messages[${i}].role must be one of ${[...ROLES].join(', ')}, got "${role}"`, { param: `messages[${i}].role` })
    const calls = (mf.array('tool_calls') ?? []).map((c, k) => toolCall(c, `messages[${i}].tool_calls[${k}]`))
    const toolName = mf.string('tool_name')
    return {
      role: role as OllamaMessage['role'],
      content: mf.string('content') ?? '',
      ...(calls.length > 0 ? { tool_calls: calls } : {}),
      ...(toolName !== undefined ? { tool_name: toolName } : {})
    }
  })
  return {
    model: f.requiredString('model'), messages, stream: f.boolean('stream') ?? true, options: options(f),
    tools: readTools(f), format: format(f), top_logprobs: logprobs(f)
  }
}

export function validateGenerate (body: unknown): OllamaGenerateRequest {
  const f = new Fields(body, GENERATE_UNSUPPORTED)
  return {
    model: f.requiredString('model'),
    prompt: f.string('prompt') ?? '',
    system: f.string('system'),
    raw: f.boolean('raw') ?? false,
    stream: f.boolean('stream') ?? true,
    options: options(f),
    format: format(f),
    top_logprobs: logprobs(f)
  }
}

// ---- mapping to the model layer

/** Ollama's defaults: temperature 0.8, top_k 40, top_p 0.9, min_p 0, repeat_penalty 1.1 over 64 tokens. */
export function generateOptions (o: OllamaOptions, extraStop: readonly string[] = []): GenerateOptions {
  const stop = [...(o.stop ?? []), ...extraStop]
  const n = o.num_predict
  return {
    temperature: o.temperature ?? 0.8,
    topK: o.top_k ?? 40,
    topP: o.top_p ?? 0.9,
    minP: o.min_p ?? 0,
    repeatPenalty: o.repeat_penalty ?? 1.1,
    repeatLastN: o.repeat_last_n === -1 ? Number.MAX_SAFE_INTEGER : o.repeat_last_n ?? 64, // -1: the whole context
    presencePenalty: o.presence_penalty ?? 0,
    frequencyPenalty: o.frequency_penalty ?? 0,
    seed: o.seed,
    maxTokens: n === undefined || n < 0 ? undefined : n,
    stop: stop.length > 0 ? stop : undefined
  }
}

/** Ollama messages → the model layer's (call ids are made up: Ollama has none). */
export function chatMessages (messages: readonly OllamaMessage[]): ChatMessage[] {
  return messages.map((m, i) => ({
    role: m.role,
    content: m.content,
    ...(m.tool_calls !== undefined ? { toolCalls: m.tool_calls.map((c, k) => ({ id: `call_${i}_${k}`, name: c.function.name, arguments: c.function.arguments })) } : {}),
    ...(m.tool_name !== undefined ? { name: m.tool_name } : {})
  }))
}

/** Ollama's /api/generate: the system text and the prompt as a chat, unless `raw`. */
export function generateMessages (req: OllamaGenerateRequest): ChatMessage[] {
  return [...(req.system !== undefined && req.system !== '' ? [{ role: 'system' as const, content: req.system }] : []), { role: 'user', content: req.prompt }]
}

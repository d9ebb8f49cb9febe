/**
 * The part of Ollama's native API we serve (/api/chat, /api/generate, /api/tags): request and
 * response types after Ollama's API documentation, one validator per endpoint with its explicit
 * unsupported-fields list, and Ollama's sampling defaults.
 */
import type { ChatMessage, FinishReason, GenerateOptions } from '../../model/index.ts'
import { InvalidArgumentError } from '../../util/errors.ts'
import { Fields, type UnsupportedFields, isEmptyArray, isEmptyString, isFalse, never } from '../fields.ts'

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
}

export interface OllamaMessage {
  role: 'system' | 'user' | 'assistant' | 'tool'
  content: string
}

interface OllamaRequestBase {
  model: string
  /** default true */
  stream: boolean
  options: OllamaOptions
}

export interface OllamaChatRequest extends OllamaRequestBase {
  messages: OllamaMessage[]
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
export interface OllamaChatPart extends OllamaPartBase {
  message: { role: 'assistant', content: string }
}
export interface OllamaGeneratePart extends OllamaPartBase {
  response: string
}
export type OllamaDone = Partial<OllamaTiming> & { done: true, done_reason: FinishReason | 'load' }

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
  format: isEmptyString,
  tools: isEmptyArray,
  think: isFalse,
  images: isEmptyArray
}

export const CHAT_UNSUPPORTED: UnsupportedFields = { ...COMMON_UNSUPPORTED }
export const GENERATE_UNSUPPORTED: UnsupportedFields = {
  ...COMMON_UNSUPPORTED,
  suffix: isEmptyString,
  template: isEmptyString,
  context: isEmptyArray
}
const MESSAGE_UNSUPPORTED: UnsupportedFields = { images: isEmptyArray, tool_calls: isEmptyArray, thinking: isEmptyString }
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
    repeat_last_n: o.number('repeat_last_n', { min: -1, integer: true })
  }
}

const ROLES = new Set(['system', 'user', 'assistant', 'tool'])

export function validateChat (body: unknown): OllamaChatRequest {
  const f = new Fields(body, CHAT_UNSUPPORTED)
  const messages = (f.array('messages') ?? []).map((m, i) => {
    const mf = new Fields(m, MESSAGE_UNSUPPORTED, `messages[${i}]`)
    const role = mf.requiredString('role')
    if (!ROLES.has(role)) throw new InvalidArgumentError(`messages[${i}].role must be one of ${[...ROLES].join(', ')}, got "${role}"`, { param: `messages[${i}].role` })
    return { role: role as OllamaMessage['role'], content: mf.string('content') ?? '' }
  })
  return { model: f.requiredString('model'), messages, stream: f.boolean('stream') ?? true, options: options(f) }
}

export function validateGenerate (body: unknown): OllamaGenerateRequest {
  const f = new Fields(body, GENERATE_UNSUPPORTED)
  return {
    model: f.requiredString('model'),
    prompt: f.string('prompt') ?? '',
    system: f.string('system'),
    raw: f.boolean('raw') ?? false,
    stream: f.boolean('stream') ?? true,
    options: options(f)
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
    seed: o.seed,
    maxTokens: n === undefined || n < 0 ? undefined : n,
    stop: stop.length > 0 ? stop : undefined
  }
}

/** Ollama's /api/generate: the system text and the prompt as a chat, unless `raw`. */
export function generateMessages (req: OllamaGenerateRequest): ChatMessage[] {
  return [...(req.system !== undefined && req.system !== '' ? [{ role: 'system' as const, content: req.system }] : []), { role: 'user', content: req.prompt }]
}

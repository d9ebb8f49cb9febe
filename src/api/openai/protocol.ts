/**
 * The part of OpenAI's API we serve: request and response types adapted from the `openai` npm
 * package (openai-node, Apache-2.0), trimmed to the fields we support, and one validator per
 * endpoint with its explicit unsupported-fields list.
 */
import type { ChatMessage, FinishReason, GenerateOptions } from '../../model/index.ts'
import { InvalidArgumentError } from '../../util/errors.ts'
import { Fields, type UnsupportedFields, isEmptyArray, isFalse, isZero, never } from '../fields.ts'

// ---- requests

export type ChatContentPart = { type: 'text', text: string }

export interface ChatCompletionMessageParam {
  role: 'system' | 'developer' | 'user' | 'assistant' | 'tool'
  content: string | ChatContentPart[]
}

/** Sampling fields shared by /v1/chat/completions and /v1/completions. */
export interface SamplingParams {
  model: string
  temperature?: number
  top_p?: number
  max_tokens?: number
  stop?: string[]
  seed?: number
  /** extensions that llama.cpp's server and vLLM accept too */
  top_k?: number
  min_p?: number
  repetition_penalty?: number
}

export interface StreamOptions {
  include_usage?: boolean
}

interface ChatCompletionCreateParamsBase extends SamplingParams {
  messages: ChatCompletionMessageParam[]
}
export interface ChatCompletionCreateParamsStreaming extends ChatCompletionCreateParamsBase {
  stream: true
  stream_options?: StreamOptions
}
export interface ChatCompletionCreateParamsNonStreaming extends ChatCompletionCreateParamsBase {
  stream?: false
}
export type ChatCompletionCreateParams = ChatCompletionCreateParamsStreaming | ChatCompletionCreateParamsNonStreaming

interface CompletionCreateParamsBase extends SamplingParams {
  /** one prompt: text or token ids */
  prompt: string | number[]
}
export interface CompletionCreateParamsStreaming extends CompletionCreateParamsBase {
  stream: true
  stream_options?: StreamOptions
}
export interface CompletionCreateParamsNonStreaming extends CompletionCreateParamsBase {
  stream?: false
}
export type CompletionCreateParams = CompletionCreateParamsStreaming | CompletionCreateParamsNonStreaming

// ---- responses

export interface CompletionUsage {
  prompt_tokens: number
  completion_tokens: number
  total_tokens: number
}

export interface ChatCompletion {
  id: string
  object: 'chat.completion'
  created: number
  model: string
  choices: Array<{ index: 0, message: { role: 'assistant', content: string, refusal: null }, logprobs: null, finish_reason: FinishReason }>
  usage: CompletionUsage
}

export interface ChatCompletionChunk {
  id: string
  object: 'chat.completion.chunk'
  created: number
  model: string
  choices: Array<{ index: 0, delta: { role?: 'assistant', content?: string }, logprobs: null, finish_reason: FinishReason | null }>
  usage?: CompletionUsage | null
}

export interface Completion {
  id: string
  object: 'text_completion'
  created: number
  model: string
  choices: Array<{ index: 0, text: string, logprobs: null, finish_reason: FinishReason | null }>
  usage?: CompletionUsage | null
}

export interface ModelObject {
  id: string
  object: 'model'
  created: number
  owned_by: string
}

// ---- validators

const isOne = (v: unknown): boolean => v === 1
const isTextFormat = (v: unknown): boolean => typeof v === 'object' && v !== null && (v as { type?: unknown }).type === 'text'

/** Refused unless harmless, for both endpoints. */
const SAMPLING_UNSUPPORTED: UnsupportedFields = {
  n: isOne,
  best_of: isOne,
  logprobs: v => v === false || v === 0,
  top_logprobs: isZero,
  logit_bias: v => typeof v === 'object' && v !== null && Object.keys(v).length === 0,
  presence_penalty: isZero,
  frequency_penalty: isZero
}

export const CHAT_UNSUPPORTED: UnsupportedFields = {
  ...SAMPLING_UNSUPPORTED,
  tools: isEmptyArray,
  tool_choice: v => v === 'none',
  functions: isEmptyArray,
  function_call: v => v === 'none',
  parallel_tool_calls: never,
  response_format: isTextFormat,
  audio: never,
  modalities: v => Array.isArray(v) && v.every(m => m === 'text'),
  prediction: never,
  web_search_options: never,
  reasoning_effort: never
}

export const COMPLETION_UNSUPPORTED: UnsupportedFields = {
  ...SAMPLING_UNSUPPORTED,
  echo: isFalse,
  suffix: v => v === ''
}

const MESSAGE_UNSUPPORTED: UnsupportedFields = {
  tool_calls: isEmptyArray,
  function_call: never,
  audio: never
}

function sampling (f: Fields): SamplingParams {
  const maxTokens = f.number('max_tokens', { min: 0, integer: true })
  const maxCompletionTokens = f.number('max_completion_tokens', { min: 0, integer: true })
  if (maxTokens !== undefined && maxCompletionTokens !== undefined && maxTokens !== maxCompletionTokens) {
    throw new InvalidArgumentError('max_tokens and max_completion_tokens disagree; send one of them', { param: 'max_completion_tokens' })
  }
  return {
    model: f.requiredString('model'),
    temperature: f.number('temperature', { min: 0, max: 2 }),
    top_p: f.number('top_p', { min: 0, max: 1 }),
    max_tokens: maxCompletionTokens ?? maxTokens,
    stop: f.strings('stop', 4),
    seed: f.number('seed', { integer: true }),
    top_k: f.number('top_k', { min: 0, integer: true }),
    min_p: f.number('min_p', { min: 0, max: 1 }),
    repetition_penalty: f.number('repetition_penalty', { min: 0 })
  }
}

function streaming (f: Fields): { stream: true, stream_options?: StreamOptions } | { stream?: false } {
  if (f.boolean('stream') !== true) {
    if (f.raw('stream_options') !== undefined) throw new InvalidArgumentError('stream_options is only allowed with stream: true', { param: 'stream_options' })
    return {}
  }
  const options = f.object('stream_options', { continuous_usage_stats: isFalse })
  return { stream: true, stream_options: options === undefined ? undefined : { include_usage: options.boolean('include_usage') } }
}

const ROLES = new Set(['system', 'developer', 'user', 'assistant', 'tool'])

function message (value: unknown, at: string): ChatCompletionMessageParam {
  const f = new Fields(value, MESSAGE_UNSUPPORTED, at)
  const role = f.requiredString('role')
  if (!ROLES.has(role)) throw new InvalidArgumentError(`${at}.role must be one of ${[...ROLES].join(', ')}, got "${role}"`, { param: `${at}.role` })
  const raw = f.raw('content')
  if (typeof raw === 'string') return { role: role as ChatCompletionMessageParam['role'], content: raw }
  const parts = f.array('content')
  if (parts === undefined) throw new InvalidArgumentError(`${at}.content is required`, { param: `${at}.content` })
  return {
    role: role as ChatCompletionMessageParam['role'],
    content: parts.map((p, i) => {
      const part = new Fields(p, {}, `${at}.content[${i}]`)
      if (part.string('type') !== 'text') throw new InvalidArgumentError(`${part.param('type')}: only text content is supported`, { param: part.param('type') })
      return { type: 'text', text: part.string('text') ?? '' }
    })
  }
}

export function validateChatCompletion (body: unknown): ChatCompletionCreateParams {
  const f = new Fields(body, CHAT_UNSUPPORTED)
  const messages = f.array('messages')
  if (messages === undefined || messages.length === 0) throw new InvalidArgumentError('messages must be a non-empty array', { param: 'messages' })
  return { ...sampling(f), messages: messages.map((m, i) => message(m, `messages[${i}]`)), ...streaming(f) }
}

export function validateCompletion (body: unknown): CompletionCreateParams {
  const f = new Fields(body, COMPLETION_UNSUPPORTED)
  let prompt = f.raw('prompt')
  // a batch of one prompt is one prompt
  if (Array.isArray(prompt) && prompt.length === 1 && (typeof prompt[0] === 'string' || Array.isArray(prompt[0]))) prompt = prompt[0]
  const ids = Array.isArray(prompt) && prompt.every(t => Number.isInteger(t) && (t as number) >= 0)
  if (typeof prompt !== 'string' && !ids) {
    throw new InvalidArgumentError('prompt must be a string or an array of token ids (one prompt; batches are not supported)', { param: 'prompt' })
  }
  return { ...sampling(f), prompt: prompt as string | number[], ...streaming(f) }
}

// ---- mapping to the model layer

/** OpenAI's defaults: temperature 1, top_p 1, no top-k, min-p or repetition penalty. */
export function generateOptions (p: SamplingParams, extraStop: readonly string[] = []): GenerateOptions {
  const stop = [...(p.stop ?? []), ...extraStop]
  return {
    temperature: p.temperature ?? 1,
    topP: p.top_p ?? 1,
    topK: p.top_k ?? 0,
    minP: p.min_p ?? 0,
    repeatPenalty: p.repetition_penalty ?? 1,
    seed: p.seed,
    maxTokens: p.max_tokens,
    stop: stop.length > 0 ? stop : undefined
  }
}

/** OpenAI messages → the model layer's (developer is system; text parts are joined). */
export function chatMessages (messages: readonly ChatCompletionMessageParam[]): ChatMessage[] {
  return messages.map(m => ({
    role: m.role === 'developer' ? 'system' : m.role,
    content: typeof m.content === 'string' ? m.content : m.content.map(p => p.text).join('')
  }))
}

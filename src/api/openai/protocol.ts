/**
 * Validators for OpenAI's chat and completion requests, each with its explicit unsupported-fields
 * list, and the mapping of their fields to the model layer.
 */
import type { ChatMessage, GenerateOptions } from '../../model/index.ts'
import { InvalidArgumentError } from '../../util/errors.ts'
import { Fields, type UnsupportedFields, isEmptyArray, isFalse, never } from '../fields.ts'
import { readResponseFormat, readToolChoice, readTools } from '../structured.ts'
import type { ChatCompletionCreateParams, ChatCompletionMessageParam, CompletionCreateParams, SamplingParams, StreamOptions } from './types.ts'

export type * from './types.ts'

/** The most choices one request may ask for (each holds its own KV cache). */
export const MAX_CHOICES = 16

const isOne = (v: unknown): boolean => v === 1

/** Refused unless harmless, for both endpoints. */
const SAMPLING_UNSUPPORTED: UnsupportedFields = {
  best_of: isOne,
  logit_bias: v => typeof v === 'object' && v !== null && Object.keys(v).length === 0
}

export const CHAT_UNSUPPORTED: UnsupportedFields = {
  ...SAMPLING_UNSUPPORTED,
  functions: isEmptyArray,
  function_call: v => v === 'none',
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

const MESSAGE_UNSUPPORTED: UnsupportedFields = { function_call: never, audio: never }

export function sampling (f: Fields, maxTokensKey = 'max_tokens'): SamplingParams {
  const maxTokens = f.number(maxTokensKey, { min: 0, integer: true })
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
    presence_penalty: f.number('presence_penalty', { min: -2, max: 2 }),
    frequency_penalty: f.number('frequency_penalty', { min: -2, max: 2 }),
    top_k: f.number('top_k', { min: 0, integer: true }),
    min_p: f.number('min_p', { min: 0, max: 1 }),
    repetition_penalty: f.number('repetition_penalty', { min: 0 })
  }
}

export function streaming (f: Fields): { stream?: boolean, stream_options?: StreamOptions } {
  if (f.boolean('stream') !== true) {
    if (f.raw('stream_options') !== undefined) throw new InvalidArgumentError('stream_options is only allowed with stream: true', { param: 'stream_options' })
    return {}
  }
  const options = f.object('stream_options', { continuous_usage_stats: isFalse })
  return { stream: true, stream_options: options === undefined ? undefined : { include_usage: options.boolean('include_usage') } }
}

const choices = (f: Fields): number => f.number('n', { min: 1, max: MAX_CHOICES, integer: true }) ?? 1

const ROLES = new Set(['system', 'developer', 'user', 'assistant', 'tool'])

function message (value: unknown, at: string): ChatCompletionMessageParam {
  const f = new Fields(value, MESSAGE_UNSUPPORTED, at)
  const role = f.requiredString('role') as ChatCompletionMessageParam['role']
  if (!ROLES.has(role)) throw new InvalidArgumentError(`${at}.role must be one of ${[...ROLES].join(', ')}, got "${role}"`, { param: `${at}.role` })
  const calls = role === 'assistant' ? (f.array('tool_calls') ?? []).map((c, i) => toolCall(c, `${at}.tool_calls[${i}]`)) : []
  if (role !== 'assistant' && f.raw('tool_calls') !== undefined) throw new InvalidArgumentError(`${at}.tool_calls: only assistant messages make tool calls`, { param: `${at}.tool_calls` })
  const raw = f.raw('content')
  const extra = {
    ...(calls.length > 0 ? { tool_calls: calls } : {}),
    ...(role === 'tool' ? { tool_call_id: f.requiredString('tool_call_id') } : {}),
    ...(f.string('name') !== undefined ? { name: f.string('name') } : {})
  }
  if (typeof raw === 'string') return { role, content: raw, ...extra }
  if (raw === undefined && calls.length > 0) return { role, content: '', ...extra }
  const parts = f.array('content')
  if (parts === undefined) throw new InvalidArgumentError(`${at}.content is required`, { param: `${at}.content` })
  return {
    role,
    content: parts.map((p, i) => {
      const part = new Fields(p, {}, `${at}.content[${i}]`)
      if (part.string('type') !== 'text') throw new InvalidArgumentError(`${part.param('type')}: only text content is supported`, { param: part.param('type') })
      return { type: 'text', text: part.string('text') ?? '' }
    }),
    ...extra
  }
}

function toolCall (value: unknown, at: string): NonNullable<ChatCompletionMessageParam['tool_calls']>[number] {
  const f = new Fields(value, {}, at)
  const fn = f.object('function')
  if (fn === undefined) throw new InvalidArgumentError(`${at}.function is required`, { param: `${at}.function` })
  const args = fn.string('arguments') ?? '{}'
  try { JSON.parse(args) } catch { throw new InvalidArgumentError(`${fn.param('arguments')} must be a JSON text`, { param: fn.param('arguments') }) }
  return { id: f.string('id') ?? '', type: 'function', function: { name: fn.requiredString('name'), arguments: args } }
}

export function validateChatCompletion (body: unknown): ChatCompletionCreateParams {
  const f = new Fields(body, CHAT_UNSUPPORTED)
  const messages = f.array('messages')
  if (messages === undefined || messages.length === 0) throw new InvalidArgumentError('messages must be a non-empty array', { param: 'messages' })
  const logprobs = f.boolean('logprobs') ?? false
  const top = f.number('top_logprobs', { min: 0, max: 20, integer: true })
  if (top !== undefined && !logprobs) throw new InvalidArgumentError('top_logprobs needs logprobs: true', { param: 'top_logprobs' })
  f.boolean('parallel_tool_calls')
  return {
    ...sampling(f),
    messages: messages.map((m, i) => message(m, `messages[${i}]`)),
    n: choices(f),
    top_logprobs: logprobs ? top ?? 0 : undefined,
    tools: readTools(f),
    tool_choice: readToolChoice(f),
    response_format: readResponseFormat(f),
    ...streaming(f)
  }
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
  return { ...sampling(f), prompt: prompt as string | number[], n: choices(f), logprobs: f.number('logprobs', { min: 0, max: 20, integer: true }), ...streaming(f) }
}

// ---- mapping to the model layer

/** OpenAI's defaults: temperature 1, top_p 1, no top-k, min-p, repetition, presence or frequency penalty. */
export function generateOptions (p: SamplingParams, extraStop: readonly string[] = []): GenerateOptions {
  const stop = [...(p.stop ?? []), ...extraStop]
  return {
    temperature: p.temperature ?? 1,
    topP: p.top_p ?? 1,
    topK: p.top_k ?? 0,
    minP: p.min_p ?? 0,
    repeatPenalty: p.repetition_penalty ?? 1,
    presencePenalty: p.presence_penalty ?? 0,
    frequencyPenalty: p.frequency_penalty ?? 0,
    seed: p.seed,
    maxTokens: p.max_tokens,
    stop: stop.length > 0 ? stop : undefined
  }
}

function parseArguments (text: string): unknown {
  try { return JSON.parse(text) } catch { return text }
}

/** OpenAI messages → the model layer's (developer is system; text parts are joined; call arguments parsed). */
export function chatMessages (messages: readonly ChatCompletionMessageParam[]): ChatMessage[] {
  return messages.map(m => ({
    role: m.role === 'developer' ? 'system' : m.role,
    content: typeof m.content === 'string' ? m.content : m.content.map(p => p.text).join(''),
    ...(m.tool_calls !== undefined ? { toolCalls: m.tool_calls.map(c => ({ id: c.id, name: c.function.name, arguments: parseArguments(c.function.arguments) })) } : {}),
    ...(m.tool_call_id !== undefined ? { toolCallId: m.tool_call_id } : {}),
    ...(m.name !== undefined ? { name: m.name } : {})
  }))
}

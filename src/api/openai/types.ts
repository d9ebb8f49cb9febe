/**
 * The part of OpenAI's API we serve: request and response types adapted from the `openai` npm
 * package (openai-node, Apache-2.0), trimmed to the fields we support.
 */
import type { OutputFormat, ToolChoice } from '../structured.ts'
import type { ToolSpec } from '../../model/index.ts'

// ---- requests

export type ChatContentPart = { type: 'text', text: string }

export interface ChatToolCallParam {
  id: string
  type: 'function'
  function: { name: string, arguments: string }
}

export interface ChatCompletionMessageParam {
  role: 'system' | 'developer' | 'user' | 'assistant' | 'tool'
  content: string | ChatContentPart[]
  tool_calls?: ChatToolCallParam[]
  tool_call_id?: string
  name?: string
}

/** Sampling fields shared by /v1/chat/completions, /v1/completions and /v1/responses. */
export interface SamplingParams {
  model: string
  temperature?: number
  top_p?: number
  max_tokens?: number
  stop?: string[]
  seed?: number
  presence_penalty?: number
  frequency_penalty?: number
  /** extensions that llama.cpp's server and vLLM accept too */
  top_k?: number
  min_p?: number
  repetition_penalty?: number
}

export interface StreamOptions {
  include_usage?: boolean
}

export interface ChatCompletionCreateParams extends SamplingParams {
  messages: ChatCompletionMessageParam[]
  n: number
  /** 0-20 alternatives per token; undefined: no logprobs */
  top_logprobs?: number
  tools: ToolSpec[]
  tool_choice?: ToolChoice
  response_format?: OutputFormat
  stream?: boolean
  stream_options?: StreamOptions
}

export interface CompletionCreateParams extends SamplingParams {
  /** one prompt: text or token ids */
  prompt: string | number[]
  n: number
  /** alternatives per token (OpenAI's integer `logprobs`); undefined: none */
  logprobs?: number
  stream?: boolean
  stream_options?: StreamOptions
}

// ---- responses

export interface CompletionUsage {
  prompt_tokens: number
  completion_tokens: number
  total_tokens: number
}

export type ChatFinishReason = 'stop' | 'length' | 'tool_calls'

export interface ChatTokenLogprob {
  token: string
  logprob: number
  bytes: number[]
  top_logprobs: Array<{ token: string, logprob: number, bytes: number[] }>
}

export interface ChatToolCall {
  id: string
  type: 'function'
  function: { name: string, arguments: string }
}

/** gridllm's extension on a finished response: what verification did for the swarm's work. */
export interface GridllmExtension {
  gridllm?: { audits: number, audit_failures: number }
}

export interface ChatCompletion extends GridllmExtension {
  id: string
  object: 'chat.completion'
  created: number
  model: string
  choices: Array<{
    index: number
    message: { role: 'assistant', content: string | null, refusal: null, tool_calls?: ChatToolCall[] }
    logprobs: { content: ChatTokenLogprob[], refusal: null } | null
    finish_reason: ChatFinishReason
  }>
  usage: CompletionUsage
}

export interface ChatCompletionChunk extends GridllmExtension {
  id: string
  object: 'chat.completion.chunk'
  created: number
  model: string
  choices: Array<{
    index: number
    delta: { role?: 'assistant', content?: string, tool_calls?: Array<{ index: number, id?: string, type?: 'function', function: { name?: string, arguments: string } }> }
    logprobs: { content: ChatTokenLogprob[], refusal: null } | null
    finish_reason: ChatFinishReason | null
  }>
  usage?: CompletionUsage | null
}

export interface CompletionLogprobs {
  tokens: string[]
  token_logprobs: number[]
  top_logprobs: Array<Record<string, number>>
  text_offset: number[]
}

export interface Completion extends GridllmExtension {
  id: string
  object: 'text_completion'
  created: number
  model: string
  choices: Array<{ index: number, text: string, logprobs: CompletionLogprobs | null, finish_reason: ChatFinishReason | null }>
  usage?: CompletionUsage | null
}

export interface ModelObject {
  id: string
  object: 'model'
  created: number
  owned_by: string
}

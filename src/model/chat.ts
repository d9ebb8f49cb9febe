/**
 * Chat prompts: a list of messages rendered to the text a model was trained on, through the model's
 * own chat template (GGUF `tokenizer.chat_template`, or `chat_template` in a Hugging Face
 * tokenizer_config.json) evaluated by @huggingface/jinja. The CLI chat and the HTTP API share it.
 *
 * Models without a template (base models such as the bundled stories260K) get FALLBACK_CHAT_TEMPLATE:
 * a plain transcript, one `role: content` line per message, ending in `assistant:`. With it the model
 * merely continues a transcript, so the stop strings "\nuser:" and "\nsystem:" end its turn.
 *
 * Tools reach the template as Hugging Face's do: `tools` (a list of {type: "function", function})
 * and messages with `tool_calls` ({id, type, function: {name, arguments}}, arguments an object) or
 * role "tool" with `tool_call_id`. The fallback writes calls in the Hermes `<tool_call>` form.
 */
import { Template } from '@huggingface/jinja'
import { BadModelFileError, InvalidArgumentError } from '../util/errors.ts'
import type { Tokenizer } from './tokenizer/index.ts'

export type ChatRole = 'system' | 'user' | 'assistant' | 'tool'

/** A call the assistant made; `arguments` as parsed JSON (templates write it with tojson). */
export interface ChatToolCall {
  readonly id: string
  readonly name: string
  readonly arguments: unknown
}

export interface ChatMessage {
  readonly role: ChatRole
  readonly content: string
  /** assistant messages that called tools */
  readonly toolCalls?: readonly ChatToolCall[]
  /** tool messages: the call answered, and the tool's name */
  readonly toolCallId?: string
  readonly name?: string
}

/** A function the model may call. */
export interface ToolSpec {
  readonly name: string
  readonly description?: string
  /** JSON schema of the arguments */
  readonly parameters?: Record<string, unknown>
}

export const FALLBACK_CHAT_TEMPLATE =
  '{% if tools %}system: You may call these functions: {{ tools | tojson }}. To call one, answer ' +
  '<tool_call>{"name": <function name>, "arguments": <arguments object>}</tool_call>{{ "\\n" }}{% endif %}' +
  '{% for message in messages %}{{ message.role }}: {% if message.tool_calls %}{% for call in message.tool_calls %}' +
  '<tool_call>{{ {"name": call.function.name, "arguments": call.function.arguments} | tojson }}</tool_call>{% endfor %}' +
  '{% else %}{{ message.content }}{% endif %}{{ "\\n" }}{% endfor %}' +
  '{% if add_generation_prompt %}assistant:{% endif %}'

/** Stop strings that end the assistant's turn under the fallback template. */
export const FALLBACK_CHAT_STOP: readonly string[] = ['\nuser:', '\nsystem:']

/** What rendering needs from a model: a local Model and the swarm client both have these. */
export interface ChatModel {
  readonly tokenizer: Tokenizer
  readonly chatTemplate: string | undefined
}

export interface ChatPrompt {
  /** the rendered prompt text (special tokens written out, e.g. `<|im_start|>`) */
  readonly text: string
  /** prepend BOS when encoding: the tokenizer wants one and the template did not write it */
  readonly addBos: boolean
  /** stop strings the template implies (the fallback's turn markers), to add to the caller's */
  readonly stop: readonly string[]
  /** the model's own template was used */
  readonly native: boolean
}

export interface RenderChatOptions {
  /** end with the assistant's turn header (default true) */
  addGenerationPrompt?: boolean
  /** functions the model may call */
  tools?: readonly ToolSpec[]
}

/** A message as Hugging Face templates read it. */
function templateMessage (m: ChatMessage): Record<string, unknown> {
  const out: Record<string, unknown> = { role: m.role, content: m.content }
  if (m.toolCalls !== undefined && m.toolCalls.length > 0) {
    out.tool_calls = m.toolCalls.map(c => ({ id: c.id, type: 'function', function: { name: c.name, arguments: c.arguments } }))
  }
  if (m.toolCallId !== undefined) out.tool_call_id = m.toolCallId
  if (m.name !== undefined) out.name = m.name
  return out
}

const compiled = new Map<string, Template>()

function compile (source: string): Template {
  let template = compiled.get(source)
  if (template === undefined) {
    try {
      template = new Template(source)
    } catch (err) {
      throw new BadModelFileError(`the model's chat template does not parse: ${(err as Error).message}`, { cause: err })
    }
    if (compiled.size >= 16) compiled.delete(compiled.keys().next().value!)
    compiled.set(source, template)
  }
  return template
}

function tokenText (tokenizer: Tokenizer, id: number | undefined): string {
  return id === undefined ? '' : tokenizer.piece(id)
}

/** Renders messages with the model's chat template (or the fallback). */
export function renderChat (model: ChatModel, messages: readonly ChatMessage[], options: RenderChatOptions = {}): ChatPrompt {
  if (messages.length === 0) throw new InvalidArgumentError('a chat needs at least one message', { param: 'messages' })
  const native = model.chatTemplate !== undefined && model.chatTemplate.trim() !== ''
  const { tokenizer } = model
  const bosToken = tokenText(tokenizer, tokenizer.bos)
  const eosToken = tokenText(tokenizer, tokenizer.eos.values().next().value)
  const template = compile(native ? model.chatTemplate! : FALLBACK_CHAT_TEMPLATE)
  let text: string
  try {
    text = template.render({
      messages: messages.map(templateMessage),
      tools: options.tools !== undefined && options.tools.length > 0
        ? options.tools.map(t => ({ type: 'function', function: { name: t.name, description: t.description ?? '', parameters: t.parameters ?? { type: 'object', properties: {} } } }))
        : undefined,
      bos_token: bosToken,
      eos_token: eosToken,
      add_generation_prompt: options.addGenerationPrompt ?? true
    })
  } catch (err) {
    // templates reject what they cannot express (raise_exception), e.g. roles out of order
    throw new InvalidArgumentError(`the chat template rejected the messages: ${(err as Error).message}`, { cause: err, param: 'messages' })
  }
  const addBos = tokenizer.addBos && !(bosToken !== '' && text.startsWith(bosToken))
  return { text, addBos, stop: native ? [] : FALLBACK_CHAT_STOP, native }
}

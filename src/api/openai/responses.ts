/**
 * POST /v1/responses, the stateless part of OpenAI's Responses API that the AI SDK and LangChain
 * use: `input` as text or items (messages, function calls and their outputs), `instructions`,
 * `max_output_tokens`, sampling, function tools with tool_choice, `text.format`, and streaming as
 * the typed events (response.created ... response.completed). Nothing is stored:
 * previous_response_id is refused.
 */
import { randomUUID } from 'node:crypto'
import type { Context } from 'hono'
import { streamSSE } from 'hono/streaming'
import { type ChatMessage, renderChat } from '../../model/index.ts'
import { InvalidArgumentError } from '../../util/errors.ts'
import { type ApiContext, jsonBody, unixNow } from '../context.ts'
import { findModel } from '../engine.ts'
import { Fields, type UnsupportedFields, never } from '../fields.ts'
import { Reply, type ReplyDelta, type ReplyFinish } from '../reply.ts'
import { GenerationRequest } from '../request.ts'
import { outputPlan, readResponseFormat, readToolChoice, readTools } from '../structured.ts'
import { generateOptions, sampling } from './protocol.ts'
import { errorFrame } from './sse.ts'

const UNSUPPORTED: UnsupportedFields = {
  previous_response_id: never,
  conversation: never,
  background: v => v === false,
  prompt: never,
  reasoning: v => typeof v === 'object' && v !== null && Object.keys(v).length === 0
}

const ROLES = new Set(['system', 'developer', 'user', 'assistant'])

/** The text of a message's content: a string, or input_text/output_text parts. */
function contentText (f: Fields): string {
  const raw = f.raw('content')
  if (typeof raw === 'string') return raw
  return (f.array('content') ?? []).map((p, i) => {
    const part = new Fields(p, {}, `${f.param('content')}[${i}]`)
    const type = part.string('type')
    if (type !== 'input_text' && type !== 'output_text' && type !== 'text') {
      throw new InvalidArgumentError(`${part.param('type')}: only text content is supported, got "${type}"`, { param: part.param('type') })
    }
    return part.string('text') ?? ''
  }).join('')
}

/** `input` items → chat messages. */
function inputMessages (f: Fields): ChatMessage[] {
  const raw = f.raw('input')
  if (typeof raw === 'string') return [{ role: 'user', content: raw }]
  const items = f.array('input')
  if (items === undefined || items.length === 0) throw new InvalidArgumentError('input must be a string or a non-empty list of items', { param: 'input' })
  return items.map((item, i): ChatMessage => {
    const at = `input[${i}]`
    const it = new Fields(item, {}, at)
    const type = it.string('type') ?? 'message'
    if (type === 'message') {
      const role = it.requiredString('role')
      if (!ROLES.has(role)) throw new InvalidArgumentError(`${at}.role must be one of ${[...ROLES].join(', ')}`, { param: `${at}.role` })
      return { role: role === 'developer' ? 'system' : role as ChatMessage['role'], content: contentText(it) }
    }
    if (type === 'function_call') {
      let args: unknown
      try { args = JSON.parse(it.string('arguments') ?? '{}') } catch { throw new InvalidArgumentError(`${at}.arguments must be a JSON text`, { param: `${at}.arguments` }) }
      return { role: 'assistant', content: '', toolCalls: [{ id: it.requiredString('call_id'), name: it.requiredString('name'), arguments: args }] }
    }
    if (type === 'function_call_output') {
      const output = it.raw('output')
      return { role: 'tool', content: typeof output === 'string' ? output : JSON.stringify(output), toolCallId: it.requiredString('call_id') }
    }
    throw new InvalidArgumentError(`${at}.type "${type}" is not supported (message, function_call, function_call_output are)`, { param: `${at}.type` })
  })
}

type OutputItem =
  | { type: 'message', id: string, status: 'in_progress' | 'completed', role: 'assistant', content: Array<{ type: 'output_text', text: string, annotations: [] }> }
  | { type: 'function_call', id: string, call_id: string, name: string, arguments: string, status: 'in_progress' | 'completed' }

export async function responses (c: Context, ctx: ApiContext): Promise<Response> {
  const f = new Fields(await jsonBody(c), UNSUPPORTED)
  const params = sampling(f, 'max_output_tokens')
  const instructions = f.string('instructions')
  const messages = [...(instructions !== undefined && instructions !== '' ? [{ role: 'system' as const, content: instructions }] : []), ...inputMessages(f)]
  const model = findModel(ctx.engine, params.model)
  const text = f.object('text')
  const plan = outputPlan(readTools(f), readToolChoice(f), text === undefined ? undefined : readResponseFormat(text, 'format'))
  const chat = renderChat(model, messages, { tools: plan.tools })
  const stream = f.boolean('stream') === true
  const request = await GenerationRequest.admit(c, ctx, model, { input: chat.text, addBos: chat.addBos }, { ...generateOptions(params, chat.stop), grammar: plan.grammar })
  const { job } = request
  const reply = new Reply(plan.mode, plan.known)
  const id = `resp_${randomUUID().replaceAll('-', '')}`
  const messageId = `msg_${randomUUID().replaceAll('-', '')}`
  const createdAt = unixNow()
  const output: OutputItem[] = []
  let message: Extract<OutputItem, { type: 'message' }> | undefined
  const response = (status: 'in_progress' | 'completed' | 'incomplete', finish?: ReplyFinish): Record<string, unknown> => ({
    id, object: 'response', created_at: createdAt, status, model: model.name, output,
    error: null, incomplete_details: status === 'incomplete' ? { reason: 'max_output_tokens' } : null,
    instructions: instructions ?? null, max_output_tokens: params.max_tokens ?? null, temperature: params.temperature ?? 1, top_p: params.top_p ?? 1,
    parallel_tool_calls: true, tool_choice: f.raw('tool_choice') ?? 'auto', tools: f.raw('tools') ?? [], text: f.raw('text') ?? { format: { type: 'text' } },
    previous_response_id: null, store: false, metadata: f.raw('metadata') ?? {}, truncation: 'disabled',
    usage: finish === undefined
      ? null
      : { input_tokens: job.usage.prompt_tokens, input_tokens_details: { cached_tokens: 0 }, output_tokens: job.usage.completion_tokens, output_tokens_details: { reasoning_tokens: 0 }, total_tokens: job.usage.total_tokens },
    ...(finish === undefined ? {} : job.extension)
  })

  // events (for streaming) as the reply grows; the same bookkeeping builds the final output
  const events: Array<Record<string, unknown>> = []
  const emit = (type: string, body: Record<string, unknown>): void => { events.push({ type, ...body }) }
  const openMessage = (): Extract<OutputItem, { type: 'message' }> => {
    if (message !== undefined) return message
    message = { type: 'message', id: messageId, status: 'in_progress', role: 'assistant', content: [] }
    output.push(message)
    emit('response.output_item.added', { output_index: output.length - 1, item: { ...message, content: [] } })
    message.content.push({ type: 'output_text', text: '', annotations: [] })
    emit('response.content_part.added', { item_id: messageId, output_index: output.length - 1, content_index: 0, part: { type: 'output_text', text: '', annotations: [] } })
    return message
  }
  const calls = new Map<number, Extract<OutputItem, { type: 'function_call' }>>()
  const apply = (d: ReplyDelta): void => {
    if (d.content !== '') {
      const m = openMessage()
      m.content[0]!.text += d.content
      emit('response.output_text.delta', { item_id: messageId, output_index: output.indexOf(m), content_index: 0, delta: d.content, logprobs: [] })
    }
    for (const k of d.calls) {
      let item = calls.get(k.index)
      if (item === undefined) {
        item = { type: 'function_call', id: `fc_${k.id.slice(5)}`, call_id: k.id, name: k.name ?? '', arguments: '', status: 'in_progress' }
        calls.set(k.index, item)
        output.push(item)
        emit('response.output_item.added', { output_index: output.length - 1, item: { ...item } })
      }
      if (k.args === '') continue
      item.arguments += k.args
      emit('response.function_call_arguments.delta', { item_id: item.id, output_index: output.indexOf(item), delta: k.args })
    }
  }
  const close = (): ReplyFinish => {
    const { delta, finish } = reply.finish(job.generation.finishReason)
    apply(delta)
    if (output.length === 0) openMessage()
    for (const [i, item] of output.entries()) {
      item.status = 'completed'
      if (item.type === 'message') {
        const part = item.content[0]!
        emit('response.output_text.done', { item_id: item.id, output_index: i, content_index: 0, text: part.text, logprobs: [] })
        emit('response.content_part.done', { item_id: item.id, output_index: i, content_index: 0, part })
      } else {
        emit('response.function_call_arguments.done', { item_id: item.id, output_index: i, arguments: item.arguments })
      }
      emit('response.output_item.done', { output_index: i, item })
    }
    return finish
  }
  const status = (finish: ReplyFinish): 'completed' | 'incomplete' => finish === 'length' ? 'incomplete' : 'completed'

  if (!stream) {
    await request.collect(e => apply(reply.push(e.token)))
    const finish = close()
    return c.json(response(status(finish), finish))
  }
  let sequence = 0
  const frame = (e: Record<string, unknown>): string => JSON.stringify({ ...e, sequence_number: sequence++ })
  const drain = (): string[] => events.splice(0).map(frame)
  await request.begin() // a failure before the first token gets its own status, not 200
  return streamSSE(c, async out => {
    out.onAbort(() => request.clientLeft())
    await request.stream(async data => {
      const type = (JSON.parse(data) as { type?: string }).type
      await out.writeSSE({ event: type ?? 'error', data })
    }, {
      start: [frame({ type: 'response.created', response: response('in_progress') }), frame({ type: 'response.in_progress', response: response('in_progress') })],
      token: e => { apply(reply.push(e.token)); return drain() },
      end: () => {
        const finish = close()
        return [...drain(), frame({ type: finish === 'length' ? 'response.incomplete' : 'response.completed', response: response(status(finish), finish) })]
      },
      error: err => JSON.stringify({ ...(JSON.parse(errorFrame(err)) as { error: object }).error, type: 'error', sequence_number: sequence++ })
    })
  })
}

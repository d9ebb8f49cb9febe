/** POST /v1/chat/completions: n choices, logprobs, tools (parsed or forced), response_format; SSE when streaming. */
import { randomUUID } from 'node:crypto'
import type { Context } from 'hono'
import { renderChat } from '../../model/index.ts'
import { type ApiContext, jsonBody, unixNow } from '../context.ts'
import { findModel } from '../engine.ts'
import { Reply, type ReplyDelta } from '../reply.ts'
import { GenerationRequest } from '../request.ts'
import { outputPlan } from '../structured.ts'
import { chatLogprob } from './format.ts'
import { chatMessages, generateOptions, validateChatCompletion } from './protocol.ts'
import type { ChatCompletion, ChatCompletionChunk, GridllmExtension } from './types.ts'
import { errorFrame, json, sse } from './sse.ts'

type ChunkChoice = ChatCompletionChunk['choices'][number]

export async function chatCompletions (c: Context, ctx: ApiContext): Promise<Response> {
  const req = validateChatCompletion(await jsonBody(c))
  const model = findModel(ctx.engine, req.model)
  const plan = outputPlan(req.tools, req.tool_choice, req.response_format)
  const chat = renderChat(model, chatMessages(req.messages), { tools: plan.tools })
  const options = { ...generateOptions(req, chat.stop), grammar: plan.grammar, logprobs: req.top_logprobs }
  const request = await GenerationRequest.admit(c, ctx, model, { input: chat.text, addBos: chat.addBos }, options, req.n)
  const { job } = request
  const replies = job.choices.map(() => new Reply(plan.mode, plan.known))
  const wantLogprobs = req.top_logprobs !== undefined
  const logprobs = (d: Pick<ReplyDelta, 'logprobs'>): ChunkChoice['logprobs'] =>
    wantLogprobs ? { content: d.logprobs.map(lp => chatLogprob(model.tokenizer, lp)), refusal: null } : null
  const id = `chatcmpl-${randomUUID()}`
  const created = unixNow()

  if (req.stream !== true) {
    await request.collect(e => replies[e.index]!.push(e.token))
    const body: ChatCompletion = {
      id, object: 'chat.completion', created, model: model.name,
      choices: replies.map((r, index) => {
        const { finish } = r.finish(job.choices[index]!.finishReason)
        const calls = r.calls.map(t => ({ id: t.id, type: 'function' as const, function: { name: t.name, arguments: t.arguments } }))
        return {
          index,
          message: { role: 'assistant', content: calls.length > 0 && r.content === '' ? null : r.content, refusal: null, ...(calls.length > 0 ? { tool_calls: calls } : {}) },
          logprobs: logprobs(r),
          finish_reason: finish
        }
      }),
      usage: job.usage,
      ...job.extension
    }
    return c.json(body)
  }

  const includeUsage = req.stream_options?.include_usage === true
  const chunk = (choices: ChunkChoice[], usage: ChatCompletionChunk['usage'] = includeUsage ? null : undefined, extra: GridllmExtension = {}): string =>
    json({ id, object: 'chat.completion.chunk', created, model: model.name, choices, usage, ...extra } satisfies ChatCompletionChunk)
  const deltaChunk = (index: number, d: ReplyDelta): string[] => {
    if (d.content === '' && d.logprobs.length === 0 && d.calls.length === 0) return []
    const delta: ChunkChoice['delta'] = {}
    if (d.content !== '') delta.content = d.content
    if (d.calls.length > 0) {
      delta.tool_calls = d.calls.map(k => k.name !== undefined
        ? { index: k.index, id: k.id, type: 'function' as const, function: { name: k.name, arguments: k.args } }
        : { index: k.index, function: { arguments: k.args } })
    }
    return [chunk([{ index, delta, logprobs: logprobs(d), finish_reason: null }])]
  }
  return await sse(c, request, {
    start: replies.map((_, index) => chunk([{ index, delta: { role: 'assistant', content: '' }, logprobs: null, finish_reason: null }])),
    token: e => deltaChunk(e.index, replies[e.index]!.push(e.token)),
    end: j => [
      ...replies.flatMap((r, index) => {
        const { delta, finish } = r.finish(j.choices[index]!.finishReason)
        return [...deltaChunk(index, delta), chunk([{ index, delta: {}, logprobs: null, finish_reason: finish }])]
      }),
      ...(includeUsage ? [chunk([], j.usage, j.extension)] : []),
      '[DONE]'
    ],
    error: errorFrame
  })
}

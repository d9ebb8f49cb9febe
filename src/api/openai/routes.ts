/** OpenAI-compatible routes under /v1: chat completions, completions, models. SSE when streaming. */
import { randomUUID } from 'node:crypto'
import { type Context, Hono } from 'hono'
import { streamSSE } from 'hono/streaming'
import { type FinishReason, renderChat } from '../../model/index.ts'
import { type ApiContext, jsonBody, unixNow } from '../context.ts'
import { type ServedModel, findModel } from '../engine.ts'
import { httpError } from '../errors.ts'
import { GenerationRequest, type StreamFrames } from '../request.ts'
import {
  type ChatCompletion, type ChatCompletionChunk, type Completion, type ModelObject,
  chatMessages, generateOptions, validateChatCompletion, validateCompletion
} from './protocol.ts'

const STARTED = unixNow()

function modelObject (m: ServedModel): ModelObject {
  return { id: m.name, object: 'model', created: STARTED, owned_by: 'gridllm' }
}

const json = (frame: unknown): string => JSON.stringify(frame)

/** Server-sent events: one `data:` per frame, sent once the first piece is ready (an earlier failure gets its own status). */
async function sse (c: Context, request: GenerationRequest, frames: StreamFrames): Promise<Response> {
  await request.begin()
  return streamSSE(c, async out => {
    out.onAbort(() => request.clientLeft())
    await request.stream(async data => { await out.writeSSE({ data }) }, frames)
  })
}

const errorFrame = (err: unknown): string => json(httpError(err).body)

export function openaiRoutes (ctx: ApiContext): Hono {
  const app = new Hono()

  app.get('/models', c => c.json({ object: 'list', data: ctx.engine.models().map(modelObject) }))
  app.get('/models/:model{.+}', c => c.json(modelObject(findModel(ctx.engine, c.req.param('model')))))

  app.post('/chat/completions', async c => {
    const req = validateChatCompletion(await jsonBody(c))
    const model = findModel(ctx.engine, req.model)
    const chat = renderChat(model, chatMessages(req.messages))
    const request = await GenerationRequest.admit(c, ctx, model, { input: chat.text, addBos: chat.addBos }, generateOptions(req, chat.stop))
    const { job } = request
    const id = `chatcmpl-${randomUUID()}`
    const created = unixNow()
    if (req.stream !== true) {
      const content = await request.collect()
      const body: ChatCompletion = {
        id, object: 'chat.completion', created, model: model.name,
        choices: [{ index: 0, message: { role: 'assistant', content, refusal: null }, logprobs: null, finish_reason: job.generation.finishReason ?? 'stop' }],
        usage: job.usage
      }
      return c.json(body)
    }
    const includeUsage = req.stream_options?.include_usage === true
    const chunk = (choices: ChatCompletionChunk['choices'], usage: ChatCompletionChunk['usage'] = includeUsage ? null : undefined): ChatCompletionChunk =>
      ({ id, object: 'chat.completion.chunk', created, model: model.name, choices, usage })
    const delta = (d: ChatCompletionChunk['choices'][0]['delta'], finish: FinishReason | null = null): ChatCompletionChunk['choices'] =>
      [{ index: 0, delta: d, logprobs: null, finish_reason: finish }]
    return await sse(c, request, {
      start: [json(chunk(delta({ role: 'assistant', content: '' })))],
      piece: text => json(chunk(delta({ content: text }))),
      end: j => [
        json(chunk(delta({}, j.generation.finishReason ?? 'stop'))),
        ...(includeUsage ? [json(chunk([], j.usage))] : []),
        '[DONE]'
      ],
      error: errorFrame
    })
  })

  app.post('/completions', async c => {
    const req = validateCompletion(await jsonBody(c))
    const model = findModel(ctx.engine, req.model)
    const request = await GenerationRequest.admit(c, ctx, model, { input: req.prompt }, generateOptions(req))
    const { job } = request
    const id = `cmpl-${randomUUID()}`
    const created = unixNow()
    const completion = (choices: Completion['choices'], usage?: Completion['usage']): Completion =>
      ({ id, object: 'text_completion', created, model: model.name, choices, usage })
    const choice = (text: string, finish: FinishReason | null): Completion['choices'] => [{ index: 0, text, logprobs: null, finish_reason: finish }]
    if (req.stream !== true) {
      const text = await request.collect()
      return c.json(completion(choice(text, job.generation.finishReason ?? 'stop'), job.usage))
    }
    const usage = req.stream_options?.include_usage === true ? null : undefined
    return await sse(c, request, {
      piece: text => json(completion(choice(text, null), usage)),
      end: j => [
        json(completion(choice('', j.generation.finishReason ?? 'stop'), usage)),
        ...(usage === null ? [json(completion([], j.usage))] : []),
        '[DONE]'
      ],
      error: errorFrame
    })
  })

  return app
}

/** OpenAI-compatible routes under /v1: chat completions, completions, models. SSE when streaming. */
import { randomUUID } from 'node:crypto'
import { Hono } from 'hono'
import { streamSSE } from 'hono/streaming'
import { renderChat } from '../../model/index.ts'
import { type ApiContext, RequestScope, jsonBody, unixNow } from '../context.ts'
import { type ServedModel, findModel } from '../engine.ts'
import { httpError } from '../errors.ts'
import { type Job, type Prompt, startJob } from '../job.ts'
import {
  type ChatCompletion, type ChatCompletionChunk, type Completion, type ModelObject, type SamplingParams, type StreamOptions,
  chatMessages, generateOptions, validateChatCompletion, validateCompletion
} from './protocol.ts'

const STARTED = unixNow()

function modelObject (m: ServedModel): ModelObject {
  return { id: m.name, object: 'model', created: STARTED, owned_by: 'gridllm' }
}

/** Streams a job as SSE: `chunk(text)` for each piece, `last(job)` at the end, usage if asked, then [DONE]. */
function sse<T> (c: Parameters<typeof streamSSE>[0], scope: RequestScope, job: Job, stream: StreamOptions | undefined, frames: {
  first?: () => T
  piece: (text: string) => T
  last: (job: Job) => T
  usage: (job: Job) => T
}): Response {
  return streamSSE(c, async out => {
    out.onAbort(() => scope.clientLeft())
    const send = async (frame: unknown): Promise<void> => { await out.writeSSE({ data: JSON.stringify(frame) }) }
    try {
      if (frames.first !== undefined) await send(frames.first())
      // when the client leaves, the generation throws AbortError at its next step
      for await (const text of job.texts()) await send(frames.piece(text))
      await send(frames.last(job))
      if (stream?.include_usage === true) await send(frames.usage(job))
      await out.writeSSE({ data: '[DONE]' })
    } catch (err) {
      if (!scope.gone) await send(httpError(err).body) // the status is sent already: the error travels as an event
    } finally {
      job.close()
      scope.done()
    }
  })
}

/** Admits a generation for a validated request; the scope ends with the request. */
async function admit (ctx: ApiContext, scope: RequestScope, model: ServedModel, prompt: Prompt, params: SamplingParams, extraStop: readonly string[] = []): Promise<Job> {
  try {
    return await startJob(ctx, model, prompt, generateOptions(params, extraStop), scope.signal)
  } catch (err) {
    scope.done()
    throw err
  }
}

async function collect (scope: RequestScope, job: Job): Promise<string> {
  try {
    return await job.collect()
  } finally {
    scope.done()
  }
}

export function openaiRoutes (ctx: ApiContext): Hono {
  const app = new Hono()

  app.get('/models', c => c.json({ object: 'list', data: ctx.engine.models().map(modelObject) }))
  app.get('/models/:model{.+}', c => c.json(modelObject(findModel(ctx.engine, c.req.param('model')))))

  app.post('/chat/completions', async c => {
    const req = validateChatCompletion(await jsonBody(c))
    const model = findModel(ctx.engine, req.model)
    const chat = renderChat(model, chatMessages(req.messages))
    const scope = new RequestScope(c, ctx)
    const job = await admit(ctx, scope, model, { input: chat.text, addBos: chat.addBos }, req, chat.stop)
    const id = `chatcmpl-${randomUUID()}`
    const created = unixNow()
    if (req.stream !== true) {
      const content = await collect(scope, job)
      const body: ChatCompletion = {
        id, object: 'chat.completion', created, model: model.name,
        choices: [{ index: 0, message: { role: 'assistant', content, refusal: null }, logprobs: null, finish_reason: job.generation.finishReason ?? 'stop' }],
        usage: job.usage
      }
      return c.json(body)
    }
    const usage = req.stream_options?.include_usage === true ? null : undefined
    const chunk = (delta: ChatCompletionChunk['choices'][0]['delta'], finish: ChatCompletionChunk['choices'][0]['finish_reason'] = null): ChatCompletionChunk =>
      ({ id, object: 'chat.completion.chunk', created, model: model.name, choices: [{ index: 0, delta, logprobs: null, finish_reason: finish }], usage })
    return sse(c, scope, job, req.stream_options, {
      first: () => chunk({ role: 'assistant', content: '' }),
      piece: text => chunk({ content: text }),
      last: j => chunk({}, j.generation.finishReason ?? 'stop'),
      usage: (j): ChatCompletionChunk => ({ id, object: 'chat.completion.chunk', created, model: model.name, choices: [], usage: j.usage })
    })
  })

  app.post('/completions', async c => {
    const req = validateCompletion(await jsonBody(c))
    const model = findModel(ctx.engine, req.model)
    const scope = new RequestScope(c, ctx)
    const job = await admit(ctx, scope, model, { input: req.prompt }, req)
    const id = `cmpl-${randomUUID()}`
    const created = unixNow()
    const completion = (text: string, finish: Completion['choices'][0]['finish_reason'], usage?: Completion['usage']): Completion =>
      ({ id, object: 'text_completion', created, model: model.name, choices: [{ index: 0, text, logprobs: null, finish_reason: finish }], usage })
    if (req.stream !== true) {
      const text = await collect(scope, job)
      return c.json(completion(text, job.generation.finishReason ?? 'stop', job.usage))
    }
    const usage = req.stream_options?.include_usage === true ? null : undefined
    return sse(c, scope, job, req.stream_options, {
      piece: text => completion(text, null, usage),
      last: j => completion('', j.generation.finishReason ?? 'stop', usage),
      usage: j => ({ ...completion('', null, j.usage), choices: [] })
    })
  })

  return app
}

/** OpenAI-compatible routes under /v1: chat completions, completions, responses, embeddings, models. SSE when streaming. */
import { randomUUID } from 'node:crypto'
import { Hono } from 'hono'
import type { TokenLogprob } from '../../model/index.ts'
import { type ApiContext, jsonBody, unixNow } from '../context.ts'
import { type ServedModel, findModel } from '../engine.ts'
import { GenerationRequest } from '../request.ts'
import { chatCompletions } from './chat.ts'
import { embeddings } from './embeddings.ts'
import { completionLogprobs } from './format.ts'
import { generateOptions, validateCompletion } from './protocol.ts'
import { responses } from './responses.ts'
import { errorFrame, json, sse } from './sse.ts'
import type { Completion, GridllmExtension, ModelObject } from './types.ts'

const STARTED = unixNow()

function modelObject (m: ServedModel): ModelObject {
  return { id: m.name, object: 'model', created: STARTED, owned_by: 'gridllm' }
}

export function openaiRoutes (ctx: ApiContext): Hono {
  const app = new Hono()

  app.get('/models', c => c.json({ object: 'list', data: ctx.engine.models().map(modelObject) }))
  app.get('/models/:model{.+}', c => c.json(modelObject(findModel(ctx.engine, c.req.param('model')))))
  app.post('/chat/completions', async c => await chatCompletions(c, ctx))
  app.post('/responses', async c => await responses(c, ctx))
  app.post('/embeddings', async c => await embeddings(c, ctx))

  app.post('/completions', async c => {
    const req = validateCompletion(await jsonBody(c))
    const model = findModel(ctx.engine, req.model)
    const request = await GenerationRequest.admit(c, ctx, model, { input: req.prompt }, { ...generateOptions(req), logprobs: req.logprobs }, req.n)
    const { job } = request
    const id = `cmpl-${randomUUID()}`
    const created = unixNow()
    const completion = (choices: Completion['choices'], usage?: Completion['usage'], extra: GridllmExtension = {}): Completion =>
      ({ id, object: 'text_completion', created, model: model.name, choices, usage, ...extra })
    const tokens = job.choices.map((): TokenLogprob[] => [])
    if (req.stream !== true) {
      const texts = await request.collect(e => { if (e.token.logprob !== undefined) tokens[e.index]!.push(e.token.logprob) })
      return c.json(completion(texts.map((text, index) => ({
        index,
        text,
        logprobs: req.logprobs === undefined ? null : completionLogprobs(model.tokenizer, tokens[index]!),
        finish_reason: job.choices[index]!.finishReason ?? 'stop'
      })), job.usage, job.extension))
    }
    const usage = req.stream_options?.include_usage === true ? null : undefined
    const offsets = job.choices.map(() => 0)
    return await sse(c, request, {
      token: ({ index, token }) => {
        if (token.text === '' && token.logprob === undefined) return []
        const logprobs = token.logprob === undefined ? null : completionLogprobs(model.tokenizer, [token.logprob], offsets[index])
        offsets[index]! += token.text.length
        return [json(completion([{ index, text: token.text, logprobs, finish_reason: null }], usage))]
      },
      end: j => [
        ...j.choices.map((g, index) => json(completion([{ index, text: '', logprobs: null, finish_reason: g.finishReason ?? 'stop' }], usage))),
        ...(usage === null ? [json(completion([], j.usage, j.extension))] : []),
        '[DONE]'
      ],
      error: errorFrame
    })
  })

  return app
}

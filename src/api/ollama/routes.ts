/** Ollama-compatible routes under /api: chat, generate (NDJSON streams, `done: true` last), tags. */
import { type Context, Hono } from 'hono'
import { stream as streamBody } from 'hono/streaming'
import { type ChatMessage, type ModelConfig, renderChat } from '../../model/index.ts'
import { type ApiContext, jsonBody } from '../context.ts'
import { type ServedModel, findModel } from '../engine.ts'
import { httpError } from '../errors.ts'
import type { Job } from '../job.ts'
import { GenerationRequest } from '../request.ts'
import {
  type OllamaChatPart, type OllamaDone, type OllamaGeneratePart, type OllamaOptions, type OllamaTag,
  generateMessages, generateOptions, validateChat, validateGenerate
} from './protocol.ts'

const STARTED = new Date().toISOString()

/** Parameters of a Llama-family model, as Ollama writes them ("135M", "0.5B"). */
function parameterSize (c: ModelConfig): string {
  const q = c.nHeads * c.headDim
  const kv = c.nKvHeads * c.headDim
  const perLayer = c.dim * (2 * q + 2 * kv) + 3 * c.dim * c.hiddenDim + 2 * c.dim
  const n = c.vocabSize * c.dim * (c.tiedEmbeddings ? 1 : 2) + c.nLayers * perLayer + c.dim
  const [div, unit] = n >= 1e9 ? [1e9, 'B'] : n >= 1e6 ? [1e6, 'M'] : [1e3, 'K']
  return `${Number((n / div).toPrecision(n / div >= 100 ? 3 : 2))}${unit}`
}

function tag (m: ServedModel): OllamaTag {
  return {
    name: m.name,
    model: m.name,
    modified_at: STARTED,
    size: 0,
    digest: m.modelId,
    details: { family: m.config.architecture, families: [m.config.architecture], parameter_size: parameterSize(m.config) }
  }
}

/** Ollama's timing fields, in nanoseconds. */
function done (job: Job, requestStart: number): OllamaDone {
  const end = job.endedAt ?? performance.now()
  const first = job.firstTokenAt ?? end
  const ns = (ms: number): number => Math.round(ms * 1e6)
  return {
    done: true,
    done_reason: job.generation.finishReason ?? 'stop',
    total_duration: ns(end - requestStart),
    load_duration: 0,
    prompt_eval_count: job.generation.promptTokens,
    prompt_eval_duration: ns(first - job.admittedAt),
    eval_count: job.generation.completionTokens,
    eval_duration: ns(end - first)
  }
}

/** Runs a generation and answers as one JSON object, or as NDJSON lines with `done: true` last. */
async function respond<T extends object> (c: Context, ctx: ApiContext, model: ServedModel, messages: ChatMessage[] | string,
  req: { stream: boolean, options: OllamaOptions }, part: (text: string) => T): Promise<Response> {
  const requestStart = performance.now()
  const chat = typeof messages === 'string' ? { text: messages, addBos: undefined, stop: [] } : renderChat(model, messages)
  const request = await GenerationRequest.admit(c, ctx, model, { input: chat.text, addBos: chat.addBos }, generateOptions(req.options, chat.stop))
  if (!req.stream) {
    const text = await request.collect()
    return c.json({ ...part(text), ...done(request.job, requestStart) })
  }
  await request.begin() // a failure before the first piece gets its own status, not 200
  const json = (frame: unknown): string => JSON.stringify(frame) + '\n'
  c.header('Content-Type', 'application/x-ndjson')
  return streamBody(c, async out => {
    out.onAbort(() => request.clientLeft())
    await request.stream(async line => { await out.write(line) }, {
      piece: text => json({ ...part(text), done: false }),
      end: job => [json({ ...part(''), ...done(job, requestStart) })],
      error: err => json({ error: httpError(err).body.error.message })
    })
  })
}

export function ollamaRoutes (ctx: ApiContext): Hono {
  const app = new Hono()

  app.get('/tags', c => c.json({ models: ctx.engine.models().map(tag) }))

  app.post('/chat', async c => {
    const req = validateChat(await jsonBody(c))
    const model = findModel(ctx.engine, req.model)
    const part = (content: string): OllamaChatPart =>
      ({ model: model.name, created_at: new Date().toISOString(), message: { role: 'assistant', content }, done: false })
    // no messages: Ollama's way to load a model
    if (req.messages.length === 0) return c.json({ ...part(''), done: true, done_reason: 'load' } satisfies OllamaChatPart & OllamaDone)
    return await respond(c, ctx, model, req.messages, req, part)
  })

  app.post('/generate', async c => {
    const req = validateGenerate(await jsonBody(c))
    const model = findModel(ctx.engine, req.model)
    const part = (response: string): OllamaGeneratePart => ({ model: model.name, created_at: new Date().toISOString(), response, done: false })
    if (req.prompt === '') return c.json({ ...part(''), done: true, done_reason: 'load' } satisfies OllamaGeneratePart & OllamaDone)
    return await respond(c, ctx, model, req.raw ? req.prompt : generateMessages(req), req, part)
  })

  return app
}

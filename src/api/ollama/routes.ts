/** Ollama-compatible routes under /api: chat, generate (NDJSON streams, `done: true` last), tags. */
import { Hono } from 'hono'
import { stream as streamBody } from 'hono/streaming'
import { type ChatMessage, type ModelConfig, renderChat } from '../../model/index.ts'
import { type ApiContext, RequestScope, jsonBody } from '../context.ts'
import { type ServedModel, findModel } from '../engine.ts'
import { httpError } from '../errors.ts'
import { type Job, startJob } from '../job.ts'
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
async function respond<T extends object> (c: Parameters<typeof streamBody>[0], ctx: ApiContext, model: ServedModel, messages: ChatMessage[] | string,
  req: { stream: boolean, options: OllamaOptions }, part: (text: string) => T): Promise<Response> {
  const requestStart = performance.now()
  const chat = typeof messages === 'string' ? { text: messages, addBos: undefined, stop: [] } : renderChat(model, messages)
  const scope = new RequestScope(c, ctx)
  let job: Job
  try {
    job = await startJob(ctx, model, { input: chat.text, addBos: chat.addBos }, generateOptions(req.options, chat.stop), scope.signal)
  } catch (err) {
    scope.done()
    throw err
  }
  if (!req.stream) {
    try {
      const text = await job.collect()
      return c.json({ ...part(text), ...done(job, requestStart) })
    } finally {
      scope.done()
    }
  }
  c.header('Content-Type', 'application/x-ndjson')
  return streamBody(c, async out => {
    out.onAbort(() => scope.clientLeft())
    const line = async (value: unknown): Promise<void> => { await out.write(JSON.stringify(value) + '\n') }
    try {
      // when the client leaves, the generation throws AbortError at its next step
      for await (const text of job.texts()) await line({ ...part(text), done: false })
      await line({ ...part(''), ...done(job, requestStart) })
    } catch (err) {
      if (!scope.gone) await line({ error: httpError(err).body.error.message })
    } finally {
      job.close()
      scope.done()
    }
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

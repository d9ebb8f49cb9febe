/**
 * Ollama-compatible routes under /api: chat (tools, format, logprobs), generate (raw continuation
 * where the model has no chat template), NDJSON streams with `done: true` last; tags, show, ps,
 * version, embed and embeddings (info.ts).
 */
import { type Context, Hono } from 'hono'
import { stream as streamBody } from 'hono/streaming'
import { type ChatMessage, type Tokenizer, renderChat } from '../../model/index.ts'
import { type ApiContext, jsonBody } from '../context.ts'
import { type ServedModel, findModel } from '../engine.ts'
import { httpError } from '../errors.ts'
import type { Job } from '../job.ts'
import { Reply, type ReplyDelta } from '../reply.ts'
import { GenerationRequest } from '../request.ts'
import { type OutputPlan, outputPlan } from '../structured.ts'
import { infoRoutes } from './info.ts'
import {
  type OllamaChatPart, type OllamaDone, type OllamaGeneratePart, type OllamaLogprob, type OllamaOptions, type OllamaToolCall,
  chatMessages, generateMessages, generateOptions, validateChat, validateGenerate
} from './protocol.ts'

/** Ollama's timing fields, in nanoseconds. */
function done (job: Job, requestStart: number, reason: string): OllamaDone {
  const end = job.endedAt ?? performance.now()
  const first = job.firstTokenAt ?? end
  const ns = (ms: number): number => Math.round(ms * 1e6)
  return {
    done: true,
    done_reason: reason as OllamaDone['done_reason'],
    total_duration: ns(end - requestStart),
    load_duration: 0,
    prompt_eval_count: job.generation.promptTokens,
    prompt_eval_duration: ns(first - job.admittedAt),
    eval_count: job.generation.completionTokens,
    eval_duration: ns(end - first),
    ...job.extension
  }
}

const utf8 = new TextDecoder()

function logprob (tokenizer: Tokenizer, lp: { id: number, logprob: number, top: ReadonlyArray<{ id: number, logprob: number }> }): OllamaLogprob {
  const entry = (id: number, value: number): { token: string, logprob: number, bytes: number[] } => {
    const bytes = tokenizer.tokenBytes(id)
    return { token: bytes.length > 0 ? utf8.decode(bytes) : tokenizer.piece(id), logprob: value, bytes: [...bytes] }
  }
  return { ...entry(lp.id, lp.logprob), top_logprobs: lp.top.map(t => entry(t.id, t.logprob)) }
}

interface Prepared {
  readonly prompt: { input: string, addBos: boolean | undefined }
  readonly stop: readonly string[]
  readonly plan: OutputPlan
}

/** A part's fields for a piece of the reply: its text and (when asked) its tokens' logprobs. */
type PartOf<T> = (text: string, extra: { logprobs?: OllamaLogprob[], tool_calls?: OllamaToolCall[] }) => T

/** Runs a generation and answers as one JSON object, or as NDJSON lines with `done: true` last. */
async function respond<T extends object> (c: Context, ctx: ApiContext, model: ServedModel, prep: Prepared,
  req: { stream: boolean, options: OllamaOptions, top_logprobs?: number }, part: PartOf<T>): Promise<Response> {
  const requestStart = performance.now()
  const options = { ...generateOptions(req.options, prep.stop), grammar: prep.plan.grammar, logprobs: req.top_logprobs }
  const request = await GenerationRequest.admit(c, ctx, model, prep.prompt, options)
  const reply = new Reply(prep.plan.mode, prep.plan.known)
  const want = req.top_logprobs !== undefined
  const lps = (d: Pick<ReplyDelta, 'logprobs'>): { logprobs?: OllamaLogprob[] } => want ? { logprobs: d.logprobs.map(lp => logprob(model.tokenizer, lp)) } : {}
  const calls = (): { tool_calls?: OllamaToolCall[] } => reply.calls.length === 0
    ? {}
    : { tool_calls: reply.calls.map(k => ({ function: { name: k.name, arguments: JSON.parse(k.arguments) as Record<string, unknown> } })) }
  if (!req.stream) {
    await request.collect(e => reply.push(e.token))
    const { finish } = reply.finish(request.job.generation.finishReason)
    return c.json({ ...part(reply.content, { ...lps(reply), ...calls() }), ...done(request.job, requestStart, finish === 'tool_calls' ? 'stop' : finish) })
  }
  await request.begin() // a failure before the first token gets its own status, not 200
  const json = (frame: unknown): string => JSON.stringify(frame) + '\n'
  c.header('Content-Type', 'application/x-ndjson')
  return streamBody(c, async out => {
    out.onAbort(() => request.clientLeft())
    await request.stream(async line => { await out.write(line) }, {
      token: e => {
        const d = reply.push(e.token)
        return d.content === '' && d.logprobs.length === 0 ? [] : [json({ ...part(d.content, lps(d)), done: false })]
      },
      end: job => {
        const { delta, finish } = reply.finish(job.generation.finishReason)
        const last = delta.content !== '' || reply.calls.length > 0 ? [json({ ...part(delta.content, calls()), done: false })] : []
        return [...last, json({ ...part('', {}), ...done(job, requestStart, finish === 'tool_calls' ? 'stop' : finish) })]
      },
      error: err => json({ error: httpError(err).body.error.message })
    })
  })
}

function chatPrompt (model: ServedModel, messages: ChatMessage[], plan: OutputPlan): Prepared {
  const chat = renderChat(model, messages, { tools: plan.tools })
  return { prompt: { input: chat.text, addBos: chat.addBos }, stop: chat.stop, plan }
}

export function ollamaRoutes (ctx: ApiContext): Hono {
  const app = new Hono()
  app.route('/', infoRoutes(ctx, ctx.version))

  app.post('/chat', async c => {
    const req = validateChat(await jsonBody(c))
    const model = findModel(ctx.engine, req.model)
    const part: PartOf<OllamaChatPart> = (content, extra) => ({
      model: model.name,
      created_at: new Date().toISOString(),
      message: { role: 'assistant', content, ...(extra.tool_calls !== undefined ? { tool_calls: extra.tool_calls } : {}) },
      ...(extra.logprobs !== undefined ? { logprobs: extra.logprobs } : {}),
      done: false
    })
    // no messages: Ollama's way to load a model
    if (req.messages.length === 0) return c.json({ ...part('', {}), done: true, done_reason: 'load' } satisfies OllamaChatPart & OllamaDone)
    const plan = outputPlan(req.tools, undefined, req.format, 'tools')
    return await respond(c, ctx, model, chatPrompt(model, chatMessages(req.messages), plan), req, part)
  })

  app.post('/generate', async c => {
    const req = validateGenerate(await jsonBody(c))
    const model = findModel(ctx.engine, req.model)
    const part: PartOf<OllamaGeneratePart> = (response, extra) => ({
      model: model.name, created_at: new Date().toISOString(), response, ...(extra.logprobs !== undefined ? { logprobs: extra.logprobs } : {}), done: false
    })
    if (req.prompt === '') return c.json({ ...part('', {}), done: true, done_reason: 'load' } satisfies OllamaGeneratePart & OllamaDone)
    const plan = outputPlan([], undefined, req.format)
    // like Ollama: a model without a chat template continues the prompt as written
    const native = model.chatTemplate !== undefined && model.chatTemplate.trim() !== ''
    const prep: Prepared = req.raw || !native
      ? { prompt: { input: req.raw || req.system === undefined || req.system === '' ? req.prompt : `${req.system}\n\n${req.prompt}`, addBos: undefined }, stop: [], plan }
      : chatPrompt(model, generateMessages(req), plan)
    return await respond(c, ctx, model, prep, req, part)
  })

  return app
}

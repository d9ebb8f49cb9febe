/**
 * What the HTTP API generates with. An Engine lists the models it serves; a model is anything with
 * the model layer's `generate()` (a local Model, or the swarm client later), so the server never
 * cares where the layers run.
 */
import { type ChatModel, type FinishReason, type GeneratedToken, type GenerateOptions, type ModelConfig, type Model, type VerificationReport, embed, tokenTable } from '../model/index.ts'
import { InvalidArgumentError, ModelNotFoundError, NotReadyError } from '../util/errors.ts'

/** The result of generate(): tokens to iterate, then the counts and the finish reason. */
export interface GenerationLike extends AsyncIterable<GeneratedToken> {
  readonly promptTokens: number
  readonly completionTokens: number
  readonly finishReason: FinishReason | undefined
  /** what verification did for it (swarm models that verify), once it ended */
  readonly verification?: VerificationReport | undefined
}

export interface ServedModel extends ChatModel {
  /** the id clients put in `model` */
  readonly name: string
  /** digest of the weights */
  readonly modelId: string
  readonly config: ModelConfig
  generate (prompt: string | readonly number[], options?: GenerateOptions): GenerationLike
  /** token ids → the embedding (dim values, L2-normalised) */
  embed (ids: readonly number[], options?: { signal?: AbortSignal }): Promise<Float32Array>
  /** tokenizing off the event loop, where the model offers it (else the tokenizer runs inline) */
  encode? (text: string, options?: { addBos?: boolean, signal?: AbortSignal }): Promise<number[]>
  /** whether it can generate now; a reason when not (for /health) */
  health? (): Health
}

export interface Health {
  readonly ok: boolean
  readonly reason?: string
}

export interface EngineStats {
  /** sessions holding KV cache right now, over every span (local or remote) */
  readonly openSessions: number
  /** time spent per hop between spans, cumulative (a Prometheus summary): engines with remote spans */
  readonly hopLatency?: { readonly count: number, readonly sumSeconds: number }
  /** routes sessions took, by why (open, failover, relay, distrust): engines with remote spans */
  readonly routes?: Readonly<Record<string, number>>
  /** audits by result and convictions: engines whose remote spans are verified */
  readonly verification?: { readonly audits: Readonly<Record<string, number>>, readonly convictions: number }
}

export interface Engine {
  /** the models served now (a swarm engine's list may change) */
  models (): readonly ServedModel[]
  /** live counters for /metrics */
  stats? (): EngineStats
  /** not ready (still loading, say), with the reason; default: ready when models() is not empty */
  health? (): Health
}

/** Ready when the engine says so and serves a model none of whose parts is missing. */
export function engineHealth (engine: Engine): Health {
  const own = engine.health?.()
  if (own !== undefined && !own.ok) return own
  const models = engine.models()
  if (models.length === 0) return { ok: false, reason: 'no model is loaded' }
  for (const m of models) {
    const h = m.health?.()
    if (h !== undefined && !h.ok) return { ok: false, reason: `${m.name}: ${h.reason ?? 'not ready'}` }
  }
  return { ok: true }
}

/** Finds a model by name or weights digest; Ollama-style `name:latest` matches `name`. A 503 while the engine is not ready. */
export function findModel (engine: Engine, name: string): ServedModel {
  const own = engine.health?.()
  if (own !== undefined && !own.ok) throw new NotReadyError(`not ready: ${own.reason ?? 'starting'}`)
  const models = engine.models()
  const wanted = name.replace(/:latest$/, '').toLowerCase()
  const hit = models.find(m => m.name.toLowerCase() === wanted || m.modelId === name)
  if (hit === undefined) throw new ModelNotFoundError(name, models.map(m => m.name))
  return hit
}

/** Serves Models (local, or running their blocks on a swarm); `name` overrides a model's own name as its API id. */
export function localEngine (entries: ReadonlyArray<{ model: Model, name?: string }>): Engine {
  const served: ServedModel[] = entries.map(({ model, name }) => ({
    name: name ?? model.name,
    modelId: model.modelId,
    config: model.config,
    tokenizer: model.tokenizer,
    chatTemplate: model.chatTemplate,
    generate: (prompt, options) => model.generate(prompt, options),
    embed: async (ids, options) => await embed(model, ids, options),
    encode: async (text, options) => await model.encode(text, options),
    health: () => {
      const sick = model.executors.map(e => e.health?.()).find(h => h !== undefined && !h.ok)
      return sick ?? { ok: true }
    }
  }))
  for (const m of served) tokenTable(m.tokenizer) // built now rather than by the first request
  const names = served.map(m => m.name.toLowerCase())
  if (new Set(names).size !== names.length) throw new InvalidArgumentError(`model names must be unique, got ${served.map(m => m.name).join(', ')}`)
  return {
    models: () => served,
    stats: () => {
      let openSessions = 0
      let count = 0
      let sumSeconds = 0
      let routes: Record<string, number> | undefined
      let verification: { audits: Record<string, number>, convictions: number } | undefined
      for (const { model } of entries) {
        for (const e of model.executors) {
          const s = e.stats?.()
          openSessions += s?.openSessions ?? 0
          count += s?.hops?.count ?? 0
          sumSeconds += s?.hops?.sumSeconds ?? 0
          for (const [reason, n] of Object.entries(s?.routes ?? {})) {
            routes ??= {}
            routes[reason] = (routes[reason] ?? 0) + n
          }
          if (s?.verification !== undefined) {
            verification ??= { audits: {}, convictions: 0 }
            verification.convictions += s.verification.convictions
            for (const [result, n] of Object.entries(s.verification.audits)) verification.audits[result] = (verification.audits[result] ?? 0) + n
          }
        }
      }
      return { openSessions, ...(count > 0 ? { hopLatency: { count, sumSeconds } } : {}), ...(routes !== undefined ? { routes } : {}), ...(verification !== undefined ? { verification } : {}) }
    }
  }
}

/** An engine that is not ready until `ready()` hands it the real one (the API answers /health while the model loads). */
export function deferredEngine (reason = 'loading the model'): { engine: Engine, ready: (engine: Engine) => void } {
  let inner: Engine | undefined
  return {
    engine: {
      models: () => inner?.models() ?? [],
      stats: () => inner?.stats?.() ?? { openSessions: 0 },
      health: () => inner === undefined ? { ok: false, reason } : inner.health?.() ?? { ok: true }
    },
    ready: engine => { inner = engine }
  }
}

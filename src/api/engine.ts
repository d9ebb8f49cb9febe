/**
 * What the HTTP API generates with. An Engine lists the models it serves; a model is anything with
 * the model layer's `generate()` (a local Model, or the swarm client later), so the server never
 * cares where the layers run.
 */
import type { ChatModel, FinishReason, GeneratedToken, GenerateOptions, ModelConfig } from '../model/index.ts'
import type { Model } from '../model/index.ts'
import { InvalidArgumentError, ModelNotFoundError } from '../util/errors.ts'

/** The result of generate(): tokens to iterate, then the counts and the finish reason. */
export interface GenerationLike extends AsyncIterable<GeneratedToken> {
  readonly promptTokens: number
  readonly completionTokens: number
  readonly finishReason: FinishReason | undefined
}

export interface ServedModel extends ChatModel {
  /** the id clients put in `model` */
  readonly name: string
  /** digest of the weights */
  readonly modelId: string
  readonly config: ModelConfig
  generate (prompt: string | readonly number[], options?: GenerateOptions): GenerationLike
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
}

/** Finds a model by name or weights digest; Ollama-style `name:latest` matches `name`. */
export function findModel (engine: Engine, name: string): ServedModel {
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
    generate: (prompt, options) => model.generate(prompt, options)
  }))
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

/** Shared by the API tests: the bundled model served over HTTP on a free loopback port. */
import { setTimeout as sleep } from 'node:timers/promises'
import { type ApiServer, type Engine, type GenerationLike, type ServedModel, localEngine, serveApi } from '../../src/api/index.ts'
import type { ApiOptions } from '../../src/api/index.ts'
import { DEFAULT_MODEL } from '../../src/cli/command.ts'
import { Model } from '../../src/model/index.ts'
import { expectedText } from '../fixtures/stories.ts'

export const MODEL_NAME = 'stories260K'

/** llama2.c's greedy 200 tokens from BOS for stories260K (test/fixtures/stories260K). */
export const REFERENCE_200 = expectedText()

export async function loadModel (): Promise<Model> {
  return await Model.load(DEFAULT_MODEL)
}

export interface TestServer {
  readonly server: ApiServer
  readonly url: string
  readonly engine: Engine
  close (): Promise<void>
}

/** Serves `model` (wrapped by `wrap`, if given) on 127.0.0.1 with any free port. */
export async function startServer (model: Model, options: Omit<ApiOptions, 'engine'> & { wrap?: (m: ServedModel) => ServedModel } = {}): Promise<TestServer> {
  const local = localEngine([{ model, name: MODEL_NAME }])
  const engine: Engine = options.wrap === undefined ? local : { models: () => local.models().map(options.wrap!), stats: local.stats }
  const server = await serveApi({ ...options, engine, port: 0 })
  return { server, url: server.url, engine, close: async () => await server.close() }
}

/**
 * A model whose tokens arrive `msPerToken` apart (the real generation underneath, same signal), so
 * tests can hold a request open long enough to abort it or to queue others behind it.
 */
export function slowed (msPerToken: number, generations: GenerationLike[] = []) {
  return (m: ServedModel): ServedModel => ({
    ...m,
    generate (prompt, options) {
      const g = m.generate(prompt, options)
      generations.push(g)
      return {
        get promptTokens () { return g.promptTokens },
        get completionTokens () { return g.completionTokens },
        get finishReason () { return g.finishReason },
        async * [Symbol.asyncIterator] () {
          for await (const token of g) {
            await sleep(msPerToken)
            yield token
          }
        }
      }
    }
  })
}

/** Reads one gauge or counter from /metrics. */
export async function metric (url: string, name: string, headers: Record<string, string> = {}): Promise<number> {
  const text = await (await fetch(`${url}/metrics`, { headers })).text()
  const line = text.split('\n').find(l => l.startsWith(`${name} `))
  if (line === undefined) throw new Error(`metric ${name} not found in:\n${text}`)
  return Number(line.slice(name.length + 1))
}

/** Polls until `check` holds or `ms` pass; returns the last value. */
export async function eventually<T> (read: () => Promise<T>, check: (v: T) => boolean, ms = 3000): Promise<T> {
  const end = Date.now() + ms
  for (;;) {
    const v = await read()
    if (check(v) || Date.now() > end) return v
    await sleep(20)
  }
}

/** Loading the model for the serving commands, local or on a swarm, with progress on stderr. */
import { existsSync } from 'node:fs'
import { homedir } from 'node:os'
import { basename, join } from 'node:path'
import { Model } from '../model/index.ts'
import { type ChainOptions, SwarmClient, loadSwarmModel, loadSwarmModelById, weights } from '../swarm/index.ts'
import type { CommandContext } from './command.ts'
import { DEFAULT_MODEL } from './command.ts'
import type { Config } from './config.ts'
import { progress } from './progress.ts'
import { readSwarmKey } from './swarm-key.ts'

/** --cache, else $GRIDLLM_CACHE, else $XDG_CACHE_HOME/gridllm, else ~/.cache/gridllm */
export function cacheFolder (flag: string | undefined, env: NodeJS.ProcessEnv): string {
  return flag ?? env.GRIDLLM_CACHE ?? join(env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'gridllm')
}

/** A model id (64 hex digits, what `gridllm status` shows) rather than a file: its weights come from the swarm. */
export function isModelId (model: string): boolean {
  return /^[0-9a-f]{64}$/.test(model) && !existsSync(model)
}

/**
 * A model known only by its id: tokenizer, embedding and head fetched from the swarm's peers (into
 * the cache folder, checked piece by piece), every block run on the swarm.
 */
export async function loadModelById (modelId: string, options: { bootstrap: readonly string[], swarmKey?: Uint8Array, cacheDir: string, backend?: string, threads?: number, mode?: ChainOptions['mode'], signal: AbortSignal, onProgress?: (done: number, total: number) => void }): Promise<Model> {
  const client = await SwarmClient.create({ bootstrap: options.bootstrap, swarmKey: options.swarmKey, signal: options.signal })
  try {
    return await loadSwarmModelById(client, modelId, {
      store: new weights.FsStore(join(options.cacheDir, 'weights')),
      backend: (options.backend ?? 'auto') as 'auto',
      threads: options.threads,
      mode: options.mode,
      ownsClient: true,
      signal: options.signal,
      onProgress: options.onProgress
    })
  } catch (err) {
    await client.stop()
    throw err
  }
}

/** The id a model file goes by in the API: its file name without the extension. */
export function modelName (path: string): string {
  return basename(path).replace(/\.(gguf|bin)$/i, '')
}

/**
 * The model from `config.model`: in this process, or, with `config.bootstrap`, with its blocks on
 * the swarm (tokenizer, embedding and head still come from the local file).
 */
export async function loadModel (config: Pick<Config, 'model' | 'bootstrap' | 'swarmKey' | 'backend' | 'threads'>, ctx: CommandContext): Promise<{ model: Model, name: string }> {
  const path = config.model ?? DEFAULT_MODEL
  const name = modelName(path)
  const swarm = config.bootstrap.length > 0
  const bar = progress(ctx.stderr, swarm ? `loading ${name} (embedding and head), joining the swarm` : `loading ${name}`)
  const options = {
    backend: config.backend as 'auto',
    threads: config.threads,
    signal: ctx.signal,
    onProgress: (done: number, total: number) => bar.update(done, total)
  }
  const model = swarm && isModelId(path)
    ? await loadModelById(path, { ...options, bootstrap: config.bootstrap, swarmKey: readSwarmKey(config.swarmKey), cacheDir: cacheFolder(undefined, ctx.env) })
    : swarm
      ? await loadSwarmModel(path, { ...options, bootstrap: config.bootstrap, swarmKey: readSwarmKey(config.swarmKey) })
      : await Model.load(path, options)
  bar.finish()
  return { model, name }
}

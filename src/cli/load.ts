/** Loading the model for the serving commands, local or on a swarm, with progress on stderr. */
import { basename } from 'node:path'
import { wasmKernelsBuilt } from '../kernels/index.ts'
import { Model } from '../model/index.ts'
import { type WatcherFactory, loadSwarmModel } from '../swarm/index.ts'
import { verification } from '../verify/index.ts'
import type { CommandContext } from './command.ts'
import { DEFAULT_MODEL } from './command.ts'
import type { Config } from './config.ts'
import { progress } from './progress.ts'
import { readSwarmKey } from './swarm-key.ts'

/** Verification of a swarm model's work, as configured (default: sample). */
export function watcherFor (config: Partial<Pick<Config, 'verify' | 'dataDir'>>): WatcherFactory | undefined {
  const mode = config.verify ?? 'sample'
  return mode === 'off' ? undefined : verification({ mode, dataDir: config.dataDir })
}

/** The id a model file goes by in the API: its file name without the extension. */
export function modelName (path: string): string {
  return basename(path).replace(/\.(gguf|bin)$/i, '')
}

let warned = false

/** `--backend auto` without the wasm build runs on the ref backend, about 20 times slower: say so (once). */
export function warnIfRef (backend: string | undefined, ctx: CommandContext): void {
  if ((backend ?? 'auto') === 'auto' && !wasmKernelsBuilt() && !warned) {
    warned = true
    ctx.stderr.write('gridllm: warning: the WebAssembly kernels are not built, so --backend auto falls back to the ref backend (about 20x slower); run `npm run build:wasm`\n')
  }
}

/**
 * The model from `config.model`: in this process, or, with `config.bootstrap`, with its blocks on
 * the swarm (tokenizer, embedding and head still come from the local file).
 */
export async function loadModel (config: Pick<Config, 'model' | 'bootstrap' | 'swarmKey' | 'backend' | 'threads'> & Partial<Pick<Config, 'verify' | 'dataDir'>>, ctx: CommandContext): Promise<{ model: Model, name: string }> {
  const path = config.model ?? DEFAULT_MODEL
  const name = modelName(path)
  warnIfRef(config.backend, ctx)
  const swarm = config.bootstrap.length > 0
  const bar = progress(ctx.stderr, swarm ? `loading ${name} (embedding and head), joining the swarm` : `loading ${name}`)
  const options = {
    backend: config.backend as 'auto',
    threads: config.threads,
    signal: ctx.signal,
    onProgress: (done: number, total: number) => bar.update(done, total)
  }
  const model = swarm
    ? await loadSwarmModel(path, { ...options, bootstrap: config.bootstrap, swarmKey: readSwarmKey(config.swarmKey), watcher: watcherFor(config) })
    : await Model.load(path, options)
  bar.finish()
  return { model, name }
}

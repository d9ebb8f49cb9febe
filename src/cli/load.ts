/** Loading the model for the serving commands, local or on a swarm, with progress on stderr. */
import { basename } from 'node:path'
import { wasmKernelsBuilt } from '../kernels/index.ts'
import { Model } from '../model/index.ts'
import { type Ledger, clientCredits } from '../ledger/index.ts'
import { type PayerFactory, type SwarmModelOptions, type WatcherFactory, loadSwarmModel } from '../swarm/index.ts'
import { verification } from '../verify/index.ts'
import { dataDir } from './data-dir.ts'
import type { CommandContext } from './command.ts'
import { DEFAULT_MODEL } from './command.ts'
import type { Config } from './config.ts'
import { progress } from './progress.ts'
import { readSwarmKey } from './swarm-key.ts'

/** a new identity's proof of work for its grant (bits; a fraction of a second) */
export const GRANT_BITS = 16

/** Verification of a swarm model's work, as configured (default: sample); convictions slash in `ledger()` when it is open. */
export function watcherFor (config: Partial<Pick<Config, 'verify' | 'dataDir'>>, ledger: () => Ledger | undefined = () => undefined): WatcherFactory | undefined {
  const mode = config.verify ?? 'sample'
  return mode === 'off' ? undefined : verification({ mode, dataDir: config.dataDir, onConviction: (suspect, proof) => { ledger()?.slash(suspect, proof) } })
}

/**
 * Payment for a swarm model's sessions, as configured (default on): from the account of the data
 * directory (default ~/.gridllm), or from `ledger` (a server's own, for its API).
 */
export function payerFor (config: Partial<Pick<Config, 'credits' | 'dataDir'>>, env: NodeJS.ProcessEnv, options: { ledger?: Ledger, onLedger?: (l: Ledger) => void } = {}): PayerFactory | undefined {
  if (config.credits === 'off') return undefined
  return clientCredits({ ledger: options.ledger, dataDir: options.ledger === undefined ? dataDir(config.dataDir, env) : undefined, grantBits: GRANT_BITS, onLedger: l => { options.onLedger?.(l) } })
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
export async function loadModel (config: Pick<Config, 'model' | 'bootstrap' | 'swarmKey' | 'backend' | 'threads'> & Partial<Pick<Config, 'verify' | 'dataDir' | 'credits'>>, ctx: CommandContext,
  options: { ledger?: Ledger } = {}): Promise<{ model: Model, name: string }> {
  const path = config.model ?? DEFAULT_MODEL
  const name = modelName(path)
  warnIfRef(config.backend, ctx)
  const swarm = config.bootstrap.length > 0
  const bar = progress(ctx.stderr, swarm ? `loading ${name} (embedding and head), joining the swarm` : `loading ${name}`)
  const load = {
    backend: config.backend as 'auto',
    threads: config.threads,
    signal: ctx.signal,
    onProgress: (done: number, total: number) => bar.update(done, total)
  }
  const model = swarm
    ? await swarmModel(path, config, ctx, options.ledger, load)
    : await Model.load(path, load)
  bar.finish()
  return { model, name }
}

/** A model whose blocks run on the swarm, verified and paid for as configured. */
export async function swarmModel (path: string, config: Pick<Config, 'bootstrap' | 'swarmKey'> & Partial<Pick<Config, 'verify' | 'dataDir' | 'credits'>>, ctx: CommandContext,
  ledger: Ledger | undefined, options: Partial<SwarmModelOptions> = {}): Promise<Model> {
  let account = ledger
  const verify = { ...config, dataDir: dataDir(config.dataDir, ctx.env) }
  return await loadSwarmModel(path, {
    ...options,
    bootstrap: config.bootstrap,
    swarmKey: readSwarmKey(config.swarmKey),
    watcher: watcherFor(verify, () => account),
    payer: payerFor(config, ctx.env, { ledger, onLedger: l => { account = l } })
  })
}

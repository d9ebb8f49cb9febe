/** Loading the model for the serving commands, local or on a swarm, with progress on stderr. */
import { existsSync } from 'node:fs'
import { homedir } from 'node:os'
import { basename, join } from 'node:path'
import { wasmKernelsBuilt } from '../kernels/index.ts'
import { Model } from '../model/index.ts'
import { type Ledger, type Wallet, clientCredits } from '../ledger/index.ts'
import { type PayerFactory, type SwarmModelByIdOptions, type SwarmModelOptions, type WatcherFactory, SwarmClient, loadSwarmModel, loadSwarmModelById, weights } from '../swarm/index.ts'
import { type AuditPolicy, verification } from '../verify/index.ts'
import { dataDir } from './data-dir.ts'
import type { CommandContext } from './command.ts'
import { DEFAULT_MODEL } from './command.ts'
import type { Config } from './config.ts'
import { progress } from './progress.ts'
import { readSwarmKey } from './swarm-key.ts'
import { applySpeculation } from './speculate.ts'

/** a new identity's proof of work for its grant (bits; a fraction of a second) */
export const GRANT_BITS = 16

/**
 * Verification of a swarm model's work, as configured (default: sample); convictions slash in
 * `ledger()` when it is open, and `wallet()` attests passed audits of the sessions it paid for.
 */
export function watcherFor (config: Partial<Pick<Config, 'verify' | 'dataDir'>>, ledger: () => Ledger | undefined = () => undefined, wallet: () => Wallet | undefined = () => undefined,
  policy?: AuditPolicy): WatcherFactory | undefined {
  const mode = config.verify ?? 'sample'
  return mode === 'off' ? undefined : verification({
    mode,
    dataDir: config.dataDir,
    policy,
    onConviction: (suspect, proof) => { ledger()?.slash(suspect, proof) },
    onAudit: outcome => { if (outcome.result === 'pass' && outcome.evidence !== undefined) wallet()?.attest(outcome.evidence) }
  })
}

/**
 * Payment for a swarm model's sessions, as configured (default on): from the account of the data
 * directory (default ~/.gridllm), or from `ledger` (a server's own, for its API).
 */
export function payerFor (config: Partial<Pick<Config, 'credits' | 'dataDir'>>, env: NodeJS.ProcessEnv, options: { ledger?: Ledger, onLedger?: (l: Ledger, wallet: Wallet | undefined) => void } = {}): PayerFactory | undefined {
  if (config.credits === 'off') return undefined
  return clientCredits({ ledger: options.ledger, dataDir: options.ledger === undefined ? dataDir(config.dataDir, env) : undefined, grantBits: GRANT_BITS, onLedger: (l, x) => { options.onLedger?.(l, x.wallet) } })
}

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
export async function loadModelById (modelId: string, options: Omit<SwarmModelByIdOptions, 'store' | 'ownsClient'> & { bootstrap: readonly string[], swarmKey?: Uint8Array, mdns?: boolean, cacheDir: string, signal: AbortSignal }): Promise<Model> {
  const client = await SwarmClient.create({ bootstrap: options.bootstrap, swarmKey: options.swarmKey, mdns: options.mdns, signal: options.signal })
  try {
    return await loadSwarmModelById(client, modelId, { ...options, store: new weights.FsStore(join(options.cacheDir, 'weights')), ownsClient: true })
  } catch (err) {
    await client.stop()
    throw err
  }
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
 * the swarm (tokenizer, embedding and head still come from the local file); speculative decoding
 * as configured (default auto, n-gram drafts unless `config.draft` names a draft model).
 * `close` closes the model and the draft model.
 */
export async function loadModel (config: Pick<Config, 'model' | 'bootstrap' | 'swarmKey' | 'backend' | 'threads'> & Partial<Pick<Config, 'verify' | 'dataDir' | 'credits' | 'speculate' | 'draft' | 'wire'>> & { cache?: string }, ctx: CommandContext,
  options: AccountOptions & { usage?: string } = {}): Promise<{ model: Model, name: string, close: () => Promise<void> }> {
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
    ? await swarmModel(path, config, ctx, options, load)
    : await Model.load(path, load)
  bar.finish()
  let closeDraft: () => Promise<void>
  try {
    closeDraft = await applySpeculation(model, config, options.usage ?? '', { backend: load.backend, threads: load.threads, signal: load.signal })
  } catch (err) {
    await model.close()
    throw err
  }
  return { model, name, close: async () => { await closeDraft(); await model.close() } }
}

/** The account a swarm model pays from: `ledger` (a server's own, for its API), else the data directory's; `onLedger` is told of it once open. */
export interface AccountOptions {
  ledger?: Ledger
  onLedger?: (ledger: Ledger) => void
}

/**
 * A model whose blocks run on the swarm, verified and paid for as configured: from its file, or,
 * given a model id, with its ends fetched from the swarm into the cache folder (`config.cache`).
 */
export async function swarmModel (path: string, config: Pick<Config, 'bootstrap' | 'swarmKey'> & Partial<Pick<Config, 'verify' | 'dataDir' | 'credits' | 'wire'>> & { cache?: string }, ctx: CommandContext,
  { ledger, onLedger }: AccountOptions = {}, options: Partial<SwarmModelOptions> = {}): Promise<Model> {
  let account = ledger
  let wallet: Wallet | undefined
  const verify = { ...config, dataDir: dataDir(config.dataDir, ctx.env) }
  const swarm = {
    ...options,
    bootstrap: config.bootstrap,
    swarmKey: readSwarmKey(config.swarmKey),
    dtype: config.wire ?? options.dtype,
    watcher: watcherFor(verify, () => account, () => wallet),
    payer: payerFor(config, ctx.env, { ledger, onLedger: (l, w) => { account = l; wallet = w; onLedger?.(l) } })
  }
  if (isModelId(path)) return await loadModelById(path, { ...swarm, backend: options.backend, cacheDir: cacheFolder(config.cache, ctx.env), signal: options.signal ?? ctx.signal })
  return await loadSwarmModel(path, swarm)
}

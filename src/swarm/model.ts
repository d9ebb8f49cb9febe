/**
 * A Model whose blocks run on the swarm: tokenizer, embedding, final norm and head come from the
 * local model file; one SwarmExecutor covers every block. Its generate() is the local model's.
 */
import { type Backend, type BackendName, createBackend } from '../kernels/index.ts'
import { Model, ModelEnds, type ModelSource, createTokenizer, freeWeights, loadWeights, openModel } from '../model/index.ts'
import { BadModelFileError } from '../util/errors.ts'
import { type ChainOptions, SwarmExecutor } from './executor.ts'
import { SwarmClient, type SwarmClientOptions } from './client.ts'
import type { ChainWatcher } from './watch.ts'
import { type PieceStore, WeightsFetcher, clientItems, recordHolders, storeSource } from './weights/index.ts'

/** Makes the watcher of a swarm model's sessions (verification), once its client exists. */
export type WatcherFactory = (client: SwarmClient, source: ModelSource, modelId: string) => ChainWatcher

/** Pays for the sessions of a swarm model's client (the ledger's wallet sets `client.payer`); close() settles and stops. */
export type PayerFactory = (client: SwarmClient, modelId: string) => Promise<{ close (): Promise<void> }>

export interface SwarmModelOptions extends SwarmClientOptions, Omit<ChainOptions, 'modelId' | 'config' | 'watcher'> {
  /** looks into every session (verification, src/verify) */
  watcher?: WatcherFactory
  /** pays for its sessions (credits, src/ledger); none: only free servers serve it */
  payer?: PayerFactory
  /** tokenizer file overriding the model's own */
  tokenizer?: string
  backend?: Backend | BackendName | 'auto'
  threads?: number
  /** reading the local weights (all are hashed for the model id; only the ends are kept) */
  onProgress?: (bytesDone: number, bytesTotal: number) => void
}

export async function loadSwarmModel (path: string, options: SwarmModelOptions): Promise<Model> {
  const { signal } = options
  const source = await openModel(path, { tokenizer: options.tokenizer, signal })
  if (source.tokenizer === undefined) throw new BadModelFileError(`${path} has no tokenizer; pass one with --tokenizer`)
  const tokenizer = createTokenizer(source.tokenizer)
  const backend = typeof options.backend === 'object' ? options.backend : await createBackend(options.backend ?? 'auto', { threads: options.threads })
  const weights = await loadWeights(source, backend, { ends: true, hash: true, start: 0, end: 0, signal, onProgress: options.onProgress })
  const modelId = weights.modelId!
  const ends = new ModelEnds(source.config, backend, weights.ends!)
  let client: SwarmClient
  try {
    client = await SwarmClient.create(options)
  } catch (err) {
    ends.dispose()
    freeWeights(backend, weights)
    if (typeof options.backend !== 'object') backend.dispose()
    throw err
  }
  let payer: { close (): Promise<void> } | undefined
  try {
    payer = await options.payer?.(client, modelId)
  } catch (err) {
    await client.stop()
    ends.dispose()
    freeWeights(backend, weights)
    if (typeof options.backend !== 'object') backend.dispose()
    throw err
  }
  const watcher = options.watcher?.(client, source, modelId)
  const executor = new SwarmExecutor(client, { ...options, modelId, config: source.config, watcher })
  return new Model(source, modelId, tokenizer, ends, [executor], async () => {
    await watcher?.close?.()
    await payer?.close()
    await client.stop()
    ends.dispose()
    freeWeights(backend, weights)
    if (typeof options.backend !== 'object') backend.dispose()
  })
}

export interface SwarmModelByIdOptions extends Omit<ChainOptions, 'modelId' | 'config' | 'watcher'> {
  /** looks into every session (verification, src/verify) */
  watcher?: WatcherFactory
  /** pays for its sessions (credits, src/ledger); none: only free servers serve it */
  payer?: PayerFactory
  /** where the fetched ends and tokenizer are kept (a folder, OPFS, memory) */
  store: PieceStore
  /** for the ends: an instance (the caller's), or a name for a new one (default 'auto') */
  backend?: Backend | BackendName | 'auto'
  threads?: number
  /** fetching the ends and tokenizer from the swarm */
  onProgress?: (bytesDone: number, bytesTotal: number) => void
  /** stop the client when the model closes (it was made for this model alone) */
  ownsClient?: boolean
  signal?: AbortSignal
}

/**
 * A Model with no file at all: the manifest, tokenizer, embedding and head come from peers of the
 * swarm (checked like every fetched piece), the blocks run on the swarm. What a tab chats with.
 */
export async function loadSwarmModelById (client: SwarmClient, modelId: string, options: SwarmModelByIdOptions): Promise<Model> {
  const { signal, store } = options
  const servers = (await client.directory.allServers({ signal })).filter(s => s.model === modelId)
  const holders = recordHolders(servers, modelId)
  const fetcher = new WeightsFetcher(client.node, store)
  const manifest = await fetcher.manifest(modelId, holders, { signal })
  await fetcher.fetch(manifest, clientItems(manifest), holders, { signal, onProgress: options.onProgress })
  const source = await storeSource(store, manifest, servers[0]?.modelName ?? modelId.slice(0, 12))
  if (source.tokenizer === undefined) throw new BadModelFileError(`model ${modelId} has no tokenizer`)
  const tokenizer = createTokenizer(source.tokenizer)
  const backend = typeof options.backend === 'object' ? options.backend : await createBackend(options.backend ?? 'auto', { threads: options.threads })
  const weights = await loadWeights(source, backend, { ends: true, start: 0, end: 0, signal })
  const ends = new ModelEnds(source.config, backend, weights.ends!)
  let payer: { close (): Promise<void> } | undefined
  try {
    payer = await options.payer?.(client, modelId)
  } catch (err) {
    ends.dispose()
    freeWeights(backend, weights)
    if (typeof options.backend !== 'object') backend.dispose()
    throw err
  }
  const watcher = options.watcher?.(client, source, modelId)
  const executor = new SwarmExecutor(client, { ...options, modelId, config: source.config, watcher })
  return new Model(source, modelId, tokenizer, ends, [executor], async () => {
    await watcher?.close?.()
    await payer?.close()
    if (options.ownsClient === true) await client.stop()
    ends.dispose()
    freeWeights(backend, weights)
    if (typeof options.backend !== 'object') backend.dispose()
  })
}

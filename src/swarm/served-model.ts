/**
 * The model a server serves, wherever its weights come from: a local file (which holds every
 * tensor and sends them all on), or the swarm itself (a model id: the manifest and the span's
 * pieces are fetched from peers that hold them, into a store, and sent on from there).
 */
import { type Manifest, type ModelConfig, type ModelSource, modelManifest, openModel } from '../model/index.ts'
import { type NetNode, type WeightsProvider } from '../net/index.ts'
import { WeightsError, throwIfAborted } from '../util/errors.ts'
import { logger } from '../util/log.ts'
import type { Directory } from './directory.ts'
import type { HeldWeights } from './record.ts'
import { type FetchReport, FileWeights, type PieceStore, StoreWeights, WeightsFetcher, type WeightsHolder, recordHolders, serverItems, storeSource } from './weights/index.ts'

const log = logger('swarm:model')

export interface ServedModel {
  readonly modelId: string
  readonly name: string
  readonly config: ModelConfig
  readonly manifest: Manifest
  /** what this peer sends over /gridllm/weights/1.0.0 */
  readonly provider: WeightsProvider
  /** what it announces it holds while serving blocks [start, end) */
  held (start: number, end: number): HeldWeights
  /** A source from which blocks [start, end) load (fetching them first if needed). */
  prepare (start: number, end: number, options?: PrepareOptions): Promise<ModelSource>
  /** what each fetch from the swarm got, and from whom */
  readonly fetches: readonly FetchReport[]
  close (): Promise<void>
}

export interface PrepareOptions {
  signal?: AbortSignal
  /** bytes of the span's weights at hand (fetched or already stored) */
  onProgress?: (done: number, total: number) => void
}

/** A model file: hashed once for its manifest (the model id), then read from. */
export async function fileModel (path: string, options: { signal?: AbortSignal, onProgress?: (done: number, total: number) => void } = {}): Promise<ServedModel> {
  const source = await openModel(path, { signal: options.signal })
  const manifest = await modelManifest(source, options)
  const provider = new FileWeights(source, manifest)
  return {
    modelId: manifest.id,
    name: source.name,
    config: source.config,
    manifest,
    provider,
    held: () => ({ start: 0, end: source.config.nLayers, ends: true }),
    prepare: async () => source,
    fetches: [],
    close: async () => { await provider.close() }
  }
}

export interface SwarmModelOptions {
  signal?: AbortSignal
  /** how long to look for peers holding the model; default 60 s */
  findTimeoutMs?: number
}

/** A model id: its weights come from the swarm, into `store`. */
export async function swarmModel (modelId: string, node: NetNode, directory: Directory, store: PieceStore, options: SwarmModelOptions = {}): Promise<ServedModel> {
  const { signal } = options
  const fetcher = new WeightsFetcher(node, store)
  const deadline = Date.now() + (options.findTimeoutMs ?? 60_000)
  let name = modelId.slice(0, 12)
  /** The peers that announce they hold weights of the model (looked up again while there are none). */
  const holders = async (): Promise<WeightsHolder[]> => {
    for (let attempt = 0; ; attempt++) {
      throwIfAborted(signal)
      const servers = (await directory.allServers({ signal })).filter(s => s.model === modelId)
      const found = recordHolders(servers, modelId)
      if (servers.length > 0) name = servers[0]!.modelName
      if (found.length > 0) return found
      if (Date.now() > deadline) throw new WeightsError('WEIGHTS_UNAVAILABLE', `no peer of the swarm announces weights of model ${modelId}`)
      log('no holder of %s yet; looking again', modelId.slice(0, 12))
      await new Promise(resolve => setTimeout(resolve, Math.min(5000, 250 * 2 ** attempt)))
    }
  }
  const manifest = await fetcher.manifest(modelId, await holders(), { signal })
  const provider = new StoreWeights(store)
  provider.add(manifest)
  let held: HeldWeights = { start: 0, end: 0, ends: false }
  const fetches: FetchReport[] = []
  return {
    modelId,
    get name () { return name },
    config: manifest.config,
    manifest,
    provider,
    held: () => held,
    prepare: async (start, end, o = {}) => {
      const report = await fetcher.fetch(manifest, serverItems(manifest, start, end), await holders(), { signal: o.signal ?? signal, onProgress: o.onProgress })
      if (report.liars.length > 0) log('caught %d peers sending bad weights: %o', report.liars.length, report.liars)
      fetches.push(report)
      held = { start, end, ends: false }
      return await storeSource(store, manifest, name)
    },
    fetches,
    close: async () => {}
  }
}

/**
 * Loads the tensors a span (and optionally the model's ends: embedding, final norm, head) needs
 * into a backend, reading each tensor once. With `hash`, every tensor of the model is streamed
 * through SHA-256 (and dropped unless needed) to build the manifest whose hash is the model id
 * peers agree on (manifest.ts).
 */
import { type Backend, RefBackend, type Tensor } from '../kernels/index.ts'
import { type DType, decode, encode, numel } from '../tensor/index.ts'
import { InvalidArgumentError, MissingTensorError, throwIfAborted } from '../util/errors.ts'
import { TensorNames, layerParts, type LayerPart } from './config.ts'
import { type Manifest, ManifestBuilder, PIECE_BYTES } from './manifest.ts'
import { type ModelSource, type TensorEntry, TensorReader } from './source.ts'
import { encodeTokenizer } from './tokenizer/blob.ts'

export interface LayerWeights {
  readonly attnNorm: Tensor // (dim)
  readonly wq: Tensor // (nHeads * headDim, dim)
  readonly wk: Tensor // (kvDim, dim)
  readonly wv: Tensor // (kvDim, dim)
  readonly bq?: Tensor // (nHeads * headDim)
  readonly bk?: Tensor // (kvDim)
  readonly bv?: Tensor // (kvDim)
  readonly qNorm?: Tensor // (headDim)
  readonly kNorm?: Tensor // (headDim)
  readonly wo: Tensor // (dim, nHeads * headDim)
  readonly ffnNorm: Tensor // (dim)
  readonly wGate: Tensor // (hiddenDim, dim)
  readonly wUp: Tensor // (hiddenDim, dim)
  readonly wDown: Tensor // (dim, hiddenDim)
}

export interface EndWeights {
  readonly embedding: Tensor // (vocabSize, dim)
  readonly outputNorm: Tensor // (dim)
  /** the embedding itself when tied */
  readonly output: Tensor // (vocabSize, dim)
}

export interface LoadOptions {
  /** first layer to load (inclusive); default 0 */
  start?: number
  /** last layer (exclusive); default nLayers. start = end loads no layers. */
  end?: number
  /** load the embedding, final norm and LM head */
  ends?: boolean
  /** build the manifest and the model id (reads every tensor once) */
  hash?: boolean
  /** with `hash`: the manifest's piece size (tests use small ones); default PIECE_BYTES */
  pieceBytes?: number
  signal?: AbortSignal
  onProgress?: (bytesDone: number, bytesTotal: number) => void
}

export interface LoadedWeights {
  readonly layers: readonly LayerWeights[]
  readonly ends: EndWeights | undefined
  /** the manifest's hash (hex); set when `hash` was asked for */
  readonly modelId: string | undefined
  /** set when `hash` was asked for */
  readonly manifest?: Manifest
}

const PART_KEYS: Readonly<Record<LayerPart, keyof LayerWeights>> = {
  'attn_norm.weight': 'attnNorm', 'attn_q.weight': 'wq', 'attn_k.weight': 'wk', 'attn_v.weight': 'wv',
  'attn_q.bias': 'bq', 'attn_k.bias': 'bk', 'attn_v.bias': 'bv', 'attn_output.weight': 'wo',
  'attn_q_norm.weight': 'qNorm', 'attn_k_norm.weight': 'kNorm',
  'ffn_norm.weight': 'ffnNorm', 'ffn_gate.weight': 'wGate', 'ffn_up.weight': 'wUp', 'ffn_down.weight': 'wDown'
}

/** Norms and biases are added elementwise, so they are always kept as f32. */
function isVector (shape: readonly number[]): boolean {
  return shape.length === 1
}

export async function loadWeights (source: ModelSource, backend: Backend, options: LoadOptions = {}): Promise<LoadedWeights> {
  const { config } = source
  const start = options.start ?? 0
  const end = options.end ?? config.nLayers
  if (!(Number.isInteger(start) && Number.isInteger(end) && start >= 0 && start <= end && end <= config.nLayers)) {
    throw new InvalidArgumentError(`span [${start}, ${end}) is outside the model's ${config.nLayers} layers`)
  }
  const wanted = new Set<string>()
  for (let l = start; l < end; l++) for (const part of layerParts(config)) wanted.add(TensorNames.layer(l, part))
  if (options.ends === true) {
    wanted.add(TensorNames.embedding)
    wanted.add(TensorNames.outputNorm)
    if (!config.tiedEmbeddings) wanted.add(TensorNames.output)
  }
  for (const name of wanted) if (!source.tensors.has(name)) throw new MissingTensorError(name, source.path)

  const builder = options.hash === true ? new ManifestBuilder(config, options.pieceBytes ?? PIECE_BYTES) : undefined
  if (builder !== undefined && source.tokenizer !== undefined) builder.setTokenizer(encodeTokenizer(source.tokenizer, source.chatTemplate))
  const toRead = [...source.tensors.values()]
    .filter(t => builder !== undefined || wanted.has(t.name))
    .sort((a, b) => a.name < b.name ? -1 : a.name > b.name ? 1 : 0)
  const total = toRead.reduce((sum, t) => sum + t.byteLength, 0)
  const reader = source.openReader?.() ?? new TensorReader()
  const loaded = new Map<string, Tensor>()
  const piece = new Uint8Array(Math.min(STREAM_PIECE, Math.max(1, ...toRead.map(t => t.byteLength)))) // for tensors only hashed
  let done = 0
  try {
    for (const entry of toRead) {
      throwIfAborted(options.signal)
      const item = builder?.tensor(entry.name, entry.dtype, entry.shape)
      const hasher = item?.hasher
      const want = wanted.has(entry.name)
      if (want && (backend.fromStream === undefined || uploadType(backend, entry) !== entry.dtype)) {
        const bytes = new Uint8Array(entry.byteLength)
        await reader.readInto(entry, 0, bytes, { signal: options.signal })
        hasher?.update(bytes)
        loaded.set(entry.name, upload(backend, entry, bytes))
      } else {
        // in pieces, straight into the backend or only through the hash: no buffer of the whole tensor
        let offset = 0
        const read = async (dst: Uint8Array): Promise<void> => {
          await reader.readInto(entry, offset, dst, { signal: options.signal })
          offset += dst.length
          hasher?.update(dst)
        }
        if (want) loaded.set(entry.name, await backend.fromStream!(entry.dtype, entry.shape, read))
        else while (offset < entry.byteLength) await read(piece.subarray(0, Math.min(piece.length, entry.byteLength - offset)))
      }
      item?.done()
      done += entry.byteLength
      options.onProgress?.(done, total)
    }
  } catch (err) {
    for (const t of loaded.values()) backend.free(t)
    throw err
  } finally {
    await reader.close()
  }

  const layers: LayerWeights[] = []
  for (let l = start; l < end; l++) {
    const layer: Partial<Record<keyof LayerWeights, Tensor>> = {}
    for (const part of layerParts(config)) layer[PART_KEYS[part]] = loaded.get(TensorNames.layer(l, part))!
    layers.push(layer as LayerWeights)
  }
  const ends = options.ends === true
    ? {
        embedding: loaded.get(TensorNames.embedding)!,
        outputNorm: loaded.get(TensorNames.outputNorm)!,
        output: loaded.get(config.tiedEmbeddings ? TensorNames.embedding : TensorNames.output)!
      }
    : undefined
  const manifest = builder?.build()
  return { layers, ends, modelId: manifest?.id, manifest }
}

/** Bytes read at a time for tensors streamed into a backend or only hashed. */
const STREAM_PIECE = 4 << 20

/** The dtype a tensor is stored in: its own if the backend takes it, else f32. */
function uploadType (backend: Backend, entry: TensorEntry): DType {
  return isVector(entry.shape) || !backend.weightTypes.includes(entry.dtype) ? 'f32' : entry.dtype
}

/** Puts a tensor into the backend in a dtype it can use. */
function upload (backend: Backend, entry: TensorEntry, bytes: Uint8Array): Tensor {
  const dtype = uploadType(backend, entry)
  if (dtype !== entry.dtype) bytes = encode(dtype, decode(entry.dtype, bytes, numel(entry.shape)))
  return backend.fromBytes(dtype, entry.shape, bytes)
}

/** The manifest of a model (reads and hashes every tensor once; keeps nothing). */
export async function modelManifest (source: ModelSource, options: { signal?: AbortSignal, onProgress?: (done: number, total: number) => void, pieceBytes?: number } = {}): Promise<Manifest> {
  return (await loadWeights(source, new RefBackend(), { ...options, start: 0, end: 0, hash: true })).manifest!
}

export function freeWeights (backend: Backend, w: LoadedWeights): void {
  const seen = new Set<Tensor>()
  for (const layer of w.layers) for (const t of Object.values(layer)) seen.add(t as Tensor)
  if (w.ends !== undefined) for (const t of Object.values(w.ends)) seen.add(t)
  for (const t of seen) backend.free(t)
}

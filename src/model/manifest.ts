/**
 * A model's manifest: its config, and for every tensor its name, dtype, shape, byte size and
 * SHA-256 (plus the SHA-256 of each piece of tensors larger than one piece), and the same for the
 * tokenizer blob. The model id is the SHA-256 of the manifest's bytes, so whatever a stranger
 * sends can be checked: the manifest against the id, then every piece against the manifest.
 *
 * Pieces are the unit of transfer and of verification: piece i of an item is its bytes
 * [i * pieceBytes, min((i + 1) * pieceBytes, bytes)). An item of one piece has just its sha256.
 */
import { type DType, DTYPES, byteSize } from '../tensor/index.ts'
import { toHex } from '../util/bytes.ts'
import { BadModelFileError } from '../util/errors.ts'
import { type Sha256, sha256, sha256Stream } from '../util/sha256.ts'
import { ARCHITECTURES, type ModelConfig, TensorNames, layerParts, validateConfig } from './config.ts'
import { requireTensors, type TensorEntry } from './source.ts'

export const MANIFEST_FORMAT = 'gridllm-manifest/1'
/** 1 MiB: what a peer asks for at once and checks on arrival */
export const PIECE_BYTES = 1 << 20
/** the tokenizer blob's item name (tensor names always contain a dot) */
export const TOKENIZER_ITEM = 'tokenizer'
const MAX_MANIFEST_BYTES = 64 << 20
const HASH_RE = /^[0-9a-f]{64}$/
/** GGUF's tensor names (blk.3.attn_q.weight): safe as file names, never the tokenizer's item name */
const TENSOR_NAME_RE = /^(?=.{3,200}$)[A-Za-z0-9_][A-Za-z0-9_-]*(\.[A-Za-z0-9_-]+)+$/

export interface ManifestItem {
  readonly bytes: number
  readonly sha256: string
  /** each piece's SHA-256, when the item has more than one piece */
  readonly pieces?: readonly string[]
}

export interface ManifestTensor extends ManifestItem {
  readonly name: string
  readonly dtype: DType
  readonly shape: readonly number[]
}

export interface ModelManifest {
  readonly format: typeof MANIFEST_FORMAT
  readonly config: ModelConfig
  readonly pieceBytes: number
  /** sorted by name */
  readonly tensors: readonly ManifestTensor[]
  /** the tokenizer and chat template (see tokenizer/blob.ts), null when the model has none */
  readonly tokenizer: ManifestItem | null
}

/** A manifest with its bytes and id (the SHA-256 of the bytes, hex). */
export class Manifest {
  private readonly items = new Map<string, ManifestItem>()

  private constructor (readonly id: string, readonly bytes: Uint8Array, readonly manifest: ModelManifest) {
    for (const t of manifest.tensors) this.items.set(t.name, t)
    if (manifest.tokenizer !== null) this.items.set(TOKENIZER_ITEM, manifest.tokenizer)
  }

  static fromManifest (manifest: ModelManifest): Manifest {
    const bytes = new TextEncoder().encode(JSON.stringify(manifest))
    return new Manifest(modelIdOf(bytes), bytes, manifest)
  }

  /** Checks bytes a peer sent against the model id, then everything in them; throws BadModelFileError. */
  static fromBytes (bytes: Uint8Array, id: string): Manifest {
    if (bytes.byteLength > MAX_MANIFEST_BYTES) throw new BadModelFileError(`a manifest of ${bytes.byteLength} bytes is over the limit`)
    if (modelIdOf(bytes) !== id) throw new BadModelFileError(`the manifest does not hash to model id ${id}`)
    let m: ModelManifest
    try {
      m = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes)) as ModelManifest
    } catch {
      throw new BadModelFileError('the manifest is not UTF-8 JSON')
    }
    checkManifest(m)
    return new Manifest(id, bytes, m)
  }

  get config (): ModelConfig {
    return this.manifest.config
  }

  get pieceBytes (): number {
    return this.manifest.pieceBytes
  }

  item (name: string): ManifestItem | undefined {
    return this.items.get(name)
  }

  pieceCount (item: ManifestItem): number {
    return Math.max(1, Math.ceil(item.bytes / this.pieceBytes))
  }

  /** [offset, length] of piece i */
  pieceRange (item: ManifestItem, i: number): readonly [number, number] {
    const offset = i * this.pieceBytes
    return [offset, Math.min(this.pieceBytes, item.bytes - offset)]
  }

  /** Whether `bytes` are piece i of the item. */
  verifyPiece (item: ManifestItem, i: number, bytes: Uint8Array): boolean {
    const want = item.pieces === undefined ? item.sha256 : item.pieces[i]
    return bytes.byteLength === this.pieceRange(item, i)[1] && toHex(sha256(bytes)) === want
  }

  /** Names of the items blocks [start, end) need, plus the ends (embedding, norm, head) and the tokenizer if asked. */
  itemsFor (start: number, end: number, options: { ends?: boolean, tokenizer?: boolean } = {}): string[] {
    const c = this.config
    const names: string[] = []
    for (let l = start; l < end; l++) for (const part of layerParts(c)) names.push(TensorNames.layer(l, part))
    if (options.ends === true) {
      names.push(TensorNames.embedding, TensorNames.outputNorm)
      if (!c.tiedEmbeddings) names.push(TensorNames.output)
    }
    if (options.tokenizer === true && this.manifest.tokenizer !== null) names.push(TOKENIZER_ITEM)
    return names
  }

  /** Total bytes of some items. */
  bytesOf (names: readonly string[]): number {
    return names.reduce((sum, n) => sum + (this.items.get(n)?.bytes ?? 0), 0)
  }

  /** The tensors as a source's catalog (offsets are within each tensor: a store reads them by name). */
  tensorEntries (): Map<string, TensorEntry> {
    return new Map(this.manifest.tensors.map(t => [t.name, { name: t.name, dtype: t.dtype, shape: t.shape, file: '', offset: 0, byteLength: t.bytes }]))
  }
}

export function modelIdOf (manifestBytes: Uint8Array): string {
  return toHex(sha256(manifestBytes))
}

/** Hashes one item's bytes as they stream by, whole and per piece. */
export class ItemHasher {
  private readonly whole = sha256Stream()
  private piece: Sha256 = sha256Stream()
  private inPiece = 0
  private readonly pieces: string[] = []
  private bytes = 0

  constructor (private readonly pieceBytes: number) {}

  update (data: Uint8Array): void {
    this.whole.update(data)
    this.bytes += data.byteLength
    for (let at = 0; at < data.byteLength;) {
      const take = Math.min(this.pieceBytes - this.inPiece, data.byteLength - at)
      this.piece.update(data.subarray(at, at + take))
      this.inPiece += take
      at += take
      if (this.inPiece === this.pieceBytes) this.cut()
    }
  }

  finish (): ManifestItem {
    if (this.inPiece > 0) this.cut()
    const sha = toHex(this.whole.digest())
    return this.pieces.length > 1 ? { bytes: this.bytes, sha256: sha, pieces: this.pieces } : { bytes: this.bytes, sha256: sha }
  }

  private cut (): void {
    this.pieces.push(toHex(this.piece.digest()))
    this.piece = sha256Stream()
    this.inPiece = 0
  }
}

/** Builds a manifest from tensors hashed in name order. */
export class ManifestBuilder {
  private readonly tensors: ManifestTensor[] = []
  private tokenizer: ManifestItem | null = null

  constructor (private readonly config: ModelConfig, readonly pieceBytes = PIECE_BYTES) {}

  /** Starts a tensor; feed its bytes to the hasher, then call done(). */
  tensor (name: string, dtype: DType, shape: readonly number[]): { hasher: ItemHasher, done: () => void } {
    const last = this.tensors[this.tensors.length - 1]
    if (last !== undefined && last.name >= name) throw new Error(`tensors must be added in name order: ${name} after ${last.name}`)
    const hasher = new ItemHasher(this.pieceBytes)
    return { hasher, done: () => { this.tensors.push({ name, dtype, shape: [...shape], ...hasher.finish() }) } }
  }

  setTokenizer (blob: Uint8Array): void {
    const h = new ItemHasher(this.pieceBytes)
    h.update(blob)
    this.tokenizer = h.finish()
  }

  build (): Manifest {
    // fixed key order: the same model always gives the same bytes, hence the same id
    const c = this.config
    const config = Object.fromEntries(Object.keys(c).sort().map(k => [k, c[k as keyof ModelConfig]])) as unknown as ModelConfig
    return Manifest.fromManifest({ format: MANIFEST_FORMAT, config, pieceBytes: this.pieceBytes, tensors: this.tensors, tokenizer: this.tokenizer })
  }
}

function bad (message: string): never {
  throw new BadModelFileError(`bad manifest: ${message}`)
}

function checkItem (v: ManifestItem, pieceBytes: number, what: string): void {
  if (!Number.isSafeInteger(v.bytes) || v.bytes < 0 || typeof v.sha256 !== 'string' || !HASH_RE.test(v.sha256)) bad(`${what} needs a byte size and a sha256`)
  const n = Math.max(1, Math.ceil(v.bytes / pieceBytes))
  if (n === 1 ? v.pieces !== undefined : !(Array.isArray(v.pieces) && v.pieces.length === n && v.pieces.every(p => typeof p === 'string' && HASH_RE.test(p)))) {
    bad(`${what} must list the sha256 of its ${n} pieces`)
  }
}

/** Everything a hostile manifest could get wrong: types, sizes, order, the config and the tensors it needs. */
function checkManifest (m: ModelManifest): void {
  if (typeof m !== 'object' || m === null || m.format !== MANIFEST_FORMAT) bad(`format must be ${MANIFEST_FORMAT}`)
  const { pieceBytes } = m
  if (!Number.isInteger(pieceBytes) || pieceBytes < 4096 || pieceBytes > 4 << 20 || (pieceBytes & (pieceBytes - 1)) !== 0) bad('pieceBytes must be a power of two from 4 KiB to 4 MiB')
  const c = m.config as unknown as Record<string, unknown>
  if (typeof c !== 'object' || c === null) bad('no config')
  const numbers = ['dim', 'hiddenDim', 'nLayers', 'nHeads', 'nKvHeads', 'headDim', 'vocabSize', 'contextLength', 'normEps', 'ropeTheta', 'ropeDim']
  if (!numbers.every(k => typeof c[k] === 'number') || typeof c.tiedEmbeddings !== 'boolean' || typeof c.qkvBias !== 'boolean' ||
    !(ARCHITECTURES as readonly unknown[]).includes(c.architecture) || (c.ropeStyle !== 'interleaved' && c.ropeStyle !== 'neox')) bad('malformed config')
  validateConfig(m.config, 'manifest')
  if (!Array.isArray(m.tensors) || m.tensors.length > 1 << 16) bad('tensors must be a list')
  let prev = ''
  for (const t of m.tensors) {
    if (typeof t?.name !== 'string' || !TENSOR_NAME_RE.test(t.name) || t.name <= prev) bad('tensor names must be sorted, unique, contain a dot and only letters, digits, _ . -')
    prev = t.name
    if (!Object.hasOwn(DTYPES, t.dtype) || !Array.isArray(t.shape) || t.shape.length < 1 || t.shape.length > 4 || !t.shape.every((d: unknown) => Number.isSafeInteger(d) && (d as number) > 0)) bad(`tensor ${t.name} needs a dtype and a shape`)
    checkItem(t, pieceBytes, `tensor ${t.name}`)
    let want: number
    try { want = byteSize(t.dtype, t.shape) } catch { bad(`tensor ${t.name} has a shape its dtype cannot hold`) }
    if (want !== t.bytes) bad(`tensor ${t.name} holds ${t.bytes} bytes, its shape needs ${want}`)
  }
  if (m.tokenizer !== null) {
    checkItem(m.tokenizer, pieceBytes, 'the tokenizer')
    if (m.tokenizer.bytes > 256 << 20) bad('the tokenizer is too large')
  }
  try {
    requireTensors(m.config, new Map(m.tensors.map(t => [t.name, { name: t.name, dtype: t.dtype, shape: t.shape, file: '', offset: 0, byteLength: t.bytes }])), 'the manifest')
  } catch (err) {
    bad((err as Error).message)
  }
}

/**
 * Where fetched weights live: a PieceStore keeps a model's manifest and every verified piece, one
 * entry per piece, so a fetch that stops half way resumes where it was (a folder on Node, OPFS in a
 * tab). Over it: a reader that loads tensors into a backend, and a provider that serves the
 * pieces on to other peers. FileWeights serves a model file's weights the same way.
 */
import { type Manifest, type ManifestItem, type ModelSource, type TensorBytesReader, type TensorEntry, TOKENIZER_ITEM, decodeTokenizer, encodeTokenizer } from '../../model/index.ts'
import { TensorReader } from '../../model/source.ts'
import type { WeightsProvider } from '../../net/index.ts'
import { BadModelFileError, throwIfAborted } from '../../util/errors.ts'

export interface PieceStore {
  getManifest (model: string): Promise<Uint8Array | undefined>
  putManifest (model: string, bytes: Uint8Array): Promise<void>
  getPiece (model: string, item: string, index: number): Promise<Uint8Array | undefined>
  /** writes a whole piece at once: a piece is either there entire or not at all */
  putPiece (model: string, item: string, index: number, bytes: Uint8Array): Promise<void>
  /** the indices of an item's pieces that are stored */
  pieces (model: string, item: string): Promise<Set<number>>
}

/** A store in memory (tests, and peers that keep nothing). */
export class MemoryStore implements PieceStore {
  private readonly data = new Map<string, Uint8Array>()
  async getManifest (model: string): Promise<Uint8Array | undefined> { return this.data.get(`${model}/manifest`) }
  async putManifest (model: string, bytes: Uint8Array): Promise<void> { this.data.set(`${model}/manifest`, bytes) }
  async getPiece (model: string, item: string, index: number): Promise<Uint8Array | undefined> { return this.data.get(`${model}/${item}/${index}`) }
  async putPiece (model: string, item: string, index: number, bytes: Uint8Array): Promise<void> { this.data.set(`${model}/${item}/${index}`, bytes) }
  async pieces (model: string, item: string): Promise<Set<number>> {
    const prefix = `${model}/${item}/`
    return new Set([...this.data.keys()].filter(k => k.startsWith(prefix)).map(k => Number(k.slice(prefix.length))))
  }
}

/** Whether every piece of an item is in the store. */
export async function hasItem (store: PieceStore, manifest: Manifest, name: string): Promise<boolean> {
  const item = manifest.item(name)
  return item !== undefined && (await store.pieces(manifest.id, name)).size === manifest.pieceCount(item)
}

/** Reads bytes [offset, offset + dst.length) of an item from its pieces. */
async function readItem (store: PieceStore, manifest: Manifest, name: string, item: ManifestItem, offset: number, dst: Uint8Array, signal?: AbortSignal): Promise<boolean> {
  const P = manifest.pieceBytes
  for (let at = 0; at < dst.length;) {
    throwIfAborted(signal)
    const i = Math.floor((offset + at) / P)
    const piece = await store.getPiece(manifest.id, name, i)
    if (piece === undefined || piece.byteLength !== manifest.pieceRange(item, i)[1]) return false
    const from = offset + at - i * P
    const n = Math.min(piece.byteLength - from, dst.length - at)
    dst.set(piece.subarray(from, from + n), at)
    at += n
  }
  return true
}

/** A model source whose tensors come from a store (every tensor it will load must be there). */
export async function storeSource (store: PieceStore, manifest: Manifest, name: string): Promise<ModelSource> {
  let tokenizer
  let chatTemplate
  const tok = manifest.item(TOKENIZER_ITEM)
  if (tok !== undefined && await hasItem(store, manifest, TOKENIZER_ITEM)) {
    const bytes = new Uint8Array(tok.bytes)
    await readItem(store, manifest, TOKENIZER_ITEM, tok, 0, bytes)
    ;({ tokenizer, chatTemplate } = decodeTokenizer(bytes))
  }
  const reader: TensorBytesReader = {
    readInto: async (t: TensorEntry, offset: number, dst: Uint8Array, options = {}) => {
      const item = manifest.item(t.name)
      if (item === undefined || !await readItem(store, manifest, t.name, item, offset, dst, options.signal)) {
        throw new BadModelFileError(`tensor ${t.name} of model ${manifest.id.slice(0, 12)} is not in the weights cache`)
      }
    },
    close: async () => {}
  }
  return { path: `swarm:${manifest.id}`, format: 'manifest', name, config: manifest.config, tensors: manifest.tensorEntries(), tokenizer, chatTemplate, openReader: () => reader }
}

/** Serves the pieces a store holds, for the models it was told about. */
export class StoreWeights implements WeightsProvider {
  private readonly manifests = new Map<string, Manifest>()

  constructor (private readonly store: PieceStore) {}

  add (manifest: Manifest): void {
    this.manifests.set(manifest.id, manifest)
  }

  manifest (model: string): Uint8Array | undefined {
    return this.manifests.get(model)?.bytes
  }

  async read (model: string, name: string, offset: number, length: number, options: { signal?: AbortSignal } = {}): Promise<Uint8Array | undefined> {
    const manifest = this.manifests.get(model)
    const item = manifest?.item(name)
    if (manifest === undefined || item === undefined || offset + length > item.bytes) return undefined
    const out = new Uint8Array(length)
    return await readItem(this.store, manifest, name, item, offset, out, options.signal) ? out : undefined
  }
}

/** Serves every item of a model file (the server that has the file holds them all). */
export class FileWeights implements WeightsProvider {
  private readonly reader = new TensorReader()
  private readonly tokenizer: Uint8Array | undefined

  constructor (private readonly source: ModelSource, readonly held: Manifest) {
    this.tokenizer = source.tokenizer === undefined ? undefined : encodeTokenizer(source.tokenizer, source.chatTemplate)
  }

  manifest (model: string): Uint8Array | undefined {
    return model === this.held.id ? this.held.bytes : undefined
  }

  async read (model: string, name: string, offset: number, length: number, options: { signal?: AbortSignal } = {}): Promise<Uint8Array | undefined> {
    if (model !== this.held.id) return undefined
    if (name === TOKENIZER_ITEM) return this.tokenizer !== undefined && offset + length <= this.tokenizer.byteLength ? this.tokenizer.slice(offset, offset + length) : undefined
    const t = this.source.tensors.get(name)
    if (t === undefined || offset + length > t.byteLength) return undefined
    const out = new Uint8Array(length)
    await this.reader.readInto(t, offset, out, options)
    return out
  }

  async close (): Promise<void> {
    await this.reader.close()
  }
}

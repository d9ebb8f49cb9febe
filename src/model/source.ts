/**
 * A model source is what a loader found in a file or folder: the config, a catalog of tensors under
 * canonical names with where their bytes are, the tokenizer's data and the chat template.
 * Nothing heavy is read until a tensor is asked for.
 */
import type { FileHandle } from 'node:fs/promises'
import { open } from 'node:fs/promises'
import { type DType, byteSize } from '../tensor/index.ts'
import { BadModelFileError, MissingTensorError, throwIfAborted } from '../util/errors.ts'
import { type ModelConfig, TensorNames, checkShape, layerParts } from './config.ts'
import { fileError } from './files.ts'

export type ModelFormat = 'gguf' | 'llama2c' | 'safetensors' | 'manifest'

export interface TensorEntry {
  readonly name: string
  readonly dtype: DType
  /** row-major, last dimension contiguous: (outDim, inDim) for matrices */
  readonly shape: readonly number[]
  readonly file: string
  readonly offset: number
  readonly byteLength: number
}

/** SentencePiece-style vocabulary (GGUF `llama` tokenizers, llama2.c's tokenizer.bin). */
export interface SpmTokenizerData {
  readonly kind: 'spm'
  readonly tokens: readonly string[]
  readonly scores: Float32Array
  /** GGUF token types: 1 normal, 2 unknown, 3 control, 4 user-defined, 5 unused, 6 byte */
  readonly types: Int32Array
  readonly bos: number
  readonly eos: number
  readonly unk: number
  readonly addBos: boolean
  readonly addSpacePrefix: boolean
  readonly extraEos?: readonly number[]
}

/** A Hugging Face `tokenizer.json` (byte-level BPE and friends), with its `tokenizer_config.json`. */
export interface HfTokenizerData {
  readonly kind: 'hf'
  readonly tokenizerJson: Record<string, unknown>
  readonly tokenizerConfig: Record<string, unknown>
  readonly bos?: number
  readonly eos: readonly number[]
  readonly addBos: boolean
}

export type TokenizerData = SpmTokenizerData | HfTokenizerData

export interface ModelSource {
  readonly path: string
  readonly format: ModelFormat
  readonly name: string
  readonly config: ModelConfig
  readonly tensors: ReadonlyMap<string, TensorEntry>
  /** undefined for a llama2.c checkpoint opened without a tokenizer file */
  readonly tokenizer: TokenizerData | undefined
  readonly chatTemplate: string | undefined
  /** where the tensors' bytes come from when not from `file` (weights fetched from the swarm); default the files */
  readonly openReader?: () => TensorBytesReader
}

/** Reads tensors' bytes: from files (TensorReader), or from a store of fetched pieces. */
export interface TensorBytesReader {
  /** Reads the tensor's bytes [offset, offset + dst.length) into dst. */
  readInto (t: TensorEntry, offset: number, dst: Uint8Array, options?: { signal?: AbortSignal }): Promise<void>
  close (): Promise<void>
}

/** Checks that every tensor's bytes lie inside its file and match its dtype and shape. */
export function checkExtents (entries: Iterable<TensorEntry>, fileSizes: ReadonlyMap<string, number>): void {
  for (const t of entries) {
    const want = byteSize(t.dtype, t.shape)
    if (want !== t.byteLength) throw new BadModelFileError(`${t.file}: tensor "${t.name}" holds ${t.byteLength} bytes, its shape needs ${want}`)
    const size = fileSizes.get(t.file) ?? 0
    if (t.offset + t.byteLength > size) {
      throw new BadModelFileError(`${t.file}: truncated, tensor "${t.name}" ends at byte ${t.offset + t.byteLength} but the file has ${size}`)
    }
  }
}

/** Every tensor the config calls for must be present with the right shape. */
export function requireTensors (config: ModelConfig, tensors: ReadonlyMap<string, TensorEntry>, where: string): void {
  const names = [TensorNames.embedding, TensorNames.outputNorm]
  if (!config.tiedEmbeddings) names.push(TensorNames.output)
  for (let l = 0; l < config.nLayers; l++) for (const part of layerParts(config)) names.push(TensorNames.layer(l, part))
  for (const name of names) {
    const t = tensors.get(name)
    if (t === undefined) throw new MissingTensorError(name, where)
    checkShape(config, name, t.shape, where)
  }
}

/** Reads tensors' bytes, keeping one open handle per file. */
export class TensorReader implements TensorBytesReader {
  private readonly handles = new Map<string, Promise<FileHandle>>()

  async read (t: TensorEntry, options: { signal?: AbortSignal } = {}): Promise<Uint8Array> {
    const out = new Uint8Array(t.byteLength)
    await this.readInto(t, 0, out, options)
    return out
  }

  /** Reads the tensor's bytes [offset, offset + dst.length) into dst. */
  async readInto (t: TensorEntry, offset: number, dst: Uint8Array, options: { signal?: AbortSignal } = {}): Promise<void> {
    throwIfAborted(options.signal)
    let handle = this.handles.get(t.file)
    if (handle === undefined) {
      handle = open(t.file, 'r').catch(err => { throw fileError(t.file, err) })
      this.handles.set(t.file, handle)
    }
    const fh = await handle
    let done = 0
    while (done < dst.length) {
      const { bytesRead } = await fh.read(dst, done, dst.length - done, t.offset + offset + done)
      if (bytesRead === 0) throw new BadModelFileError(`${t.file}: truncated while reading tensor "${t.name}"`)
      done += bytesRead
    }
  }

  async close (): Promise<void> {
    const handles = [...this.handles.values()]
    this.handles.clear()
    await Promise.all(handles.map(async h => { try { await (await h).close() } catch {} }))
  }
}

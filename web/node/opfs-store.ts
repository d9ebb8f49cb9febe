/**
 * A PieceStore in the origin private file system (OPFS): gridllm/weights/<model>/<item>/<piece>,
 * one file per piece, written whole (a writable's close() commits it at once), so a tab that closes
 * mid-fetch resumes where it was. Works on the page and in workers (the span worker reads from it).
 */
import type { PieceStore } from '../../src/swarm/weights/index.ts'

const MODEL_RE = /^[0-9a-f]{64}$/
const ITEM_RE = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,199}$/

function isNotFound (err: unknown): boolean {
  return (err as DOMException)?.name === 'NotFoundError' || (err as DOMException)?.name === 'TypeMismatchError'
}

export class OpfsStore implements PieceStore {
  private root: Promise<FileSystemDirectoryHandle> | undefined

  /** Whether this context has OPFS (a secure context in a recent browser). */
  static get available (): boolean {
    return typeof navigator !== 'undefined' && typeof navigator.storage?.getDirectory === 'function'
  }

  private async dir (path: readonly string[], create: boolean): Promise<FileSystemDirectoryHandle | undefined> {
    this.root ??= navigator.storage.getDirectory()
    let d = await this.root
    try {
      for (const name of ['gridllm', 'weights', ...path]) d = await d.getDirectoryHandle(name, { create })
      return d
    } catch (err) {
      if (!create && isNotFound(err)) return undefined
      throw err
    }
  }

  private async read (path: readonly string[], name: string): Promise<Uint8Array | undefined> {
    const d = await this.dir(path, false)
    if (d === undefined) return undefined
    try {
      return new Uint8Array(await (await (await d.getFileHandle(name)).getFile()).arrayBuffer())
    } catch (err) {
      if (isNotFound(err)) return undefined
      throw err
    }
  }

  private async write (path: readonly string[], name: string, bytes: Uint8Array): Promise<void> {
    const d = (await this.dir(path, true))!
    const w = await (await d.getFileHandle(name, { create: true })).createWritable()
    try {
      await w.write(bytes as Uint8Array<ArrayBuffer>)
      await w.close()
    } catch (err) {
      await w.abort().catch(() => {})
      throw err
    }
  }

  private check (model: string, item?: string): void {
    if (!MODEL_RE.test(model) || (item !== undefined && (!ITEM_RE.test(item) || item.includes('..')))) throw new Error(`bad weights key ${model}/${item ?? ''}`)
  }

  async getManifest (model: string): Promise<Uint8Array | undefined> {
    this.check(model)
    return await this.read([model], 'manifest.json')
  }

  async putManifest (model: string, bytes: Uint8Array): Promise<void> {
    this.check(model)
    await this.write([model], 'manifest.json', bytes)
  }

  async getPiece (model: string, item: string, index: number): Promise<Uint8Array | undefined> {
    this.check(model, item)
    return await this.read([model, item], String(index))
  }

  async putPiece (model: string, item: string, index: number, bytes: Uint8Array): Promise<void> {
    this.check(model, item)
    await this.write([model, item], String(index), bytes)
  }

  async pieces (model: string, item: string): Promise<Set<number>> {
    this.check(model, item)
    const d = await this.dir([model, item], false)
    const out = new Set<number>()
    if (d === undefined) return out
    for await (const [name, handle] of d.entries()) if (handle.kind === 'file' && /^\d+$/.test(name)) out.add(Number(name))
    return out
  }

  /** Forgets every stored weight. */
  async clear (): Promise<void> {
    const root = await (this.root ??= navigator.storage.getDirectory())
    await root.removeEntry('gridllm', { recursive: true }).catch(() => {})
  }
}

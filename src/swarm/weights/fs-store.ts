/**
 * A PieceStore in a folder: <dir>/<model id>/manifest.json and <dir>/<model id>/<item>/<piece>.
 * Each piece is written to a temporary file and renamed into place, so a piece file is either
 * whole or absent, whenever the process stops.
 */
import { mkdir, readFile, readdir, rename, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { InvalidArgumentError } from '../../util/errors.ts'
import type { PieceStore } from './store.ts'

const MODEL_RE = /^[0-9a-f]{64}$/
const ITEM_RE = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,199}$/

async function readOrUndefined (path: string): Promise<Uint8Array | undefined> {
  try {
    return new Uint8Array(await readFile(path))
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    throw err
  }
}

export class FsStore implements PieceStore {
  private tmp = 0

  constructor (readonly dir: string) {}

  private modelDir (model: string): string {
    if (!MODEL_RE.test(model)) throw new InvalidArgumentError(`not a model id: ${model}`)
    return join(this.dir, model)
  }

  private itemDir (model: string, item: string): string {
    if (!ITEM_RE.test(item) || item.includes('..')) throw new InvalidArgumentError(`not an item name: ${item}`)
    return join(this.modelDir(model), item)
  }

  private async put (dir: string, name: string, bytes: Uint8Array): Promise<void> {
    await mkdir(dir, { recursive: true })
    const tmp = join(dir, `.${name}.${process.pid}.${this.tmp++}.tmp`)
    await writeFile(tmp, bytes)
    await rename(tmp, join(dir, name))
  }

  async getManifest (model: string): Promise<Uint8Array | undefined> {
    return await readOrUndefined(join(this.modelDir(model), 'manifest.json'))
  }

  async putManifest (model: string, bytes: Uint8Array): Promise<void> {
    await this.put(this.modelDir(model), 'manifest.json', bytes)
  }

  async getPiece (model: string, item: string, index: number): Promise<Uint8Array | undefined> {
    return await readOrUndefined(join(this.itemDir(model, item), String(index)))
  }

  async putPiece (model: string, item: string, index: number, bytes: Uint8Array): Promise<void> {
    await this.put(this.itemDir(model, item), String(index), bytes)
  }

  async pieces (model: string, item: string): Promise<Set<number>> {
    try {
      return new Set((await readdir(this.itemDir(model, item))).filter(n => /^\d+$/.test(n)).map(Number))
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return new Set()
      throw err
    }
  }
}

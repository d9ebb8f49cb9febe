import { BadModelFileError } from '../../util/errors.ts'
import type { GgufValue } from './types.ts'

/** Typed access to GGUF metadata, with errors that name the key and the file. */
export class Metadata {
  constructor (readonly map: ReadonlyMap<string, GgufValue>, readonly where: string) {}

  has (key: string): boolean {
    return this.map.has(key)
  }

  number (key: string, fallback?: number): number {
    const v = this.map.get(key)
    if (v === undefined) {
      if (fallback !== undefined) return fallback
      throw new BadModelFileError(`${this.where}: metadata "${key}" is missing`)
    }
    if (typeof v !== 'number') throw new BadModelFileError(`${this.where}: metadata "${key}" should be a number`)
    return v
  }

  optionalNumber (key: string): number | undefined {
    return this.map.has(key) ? this.number(key) : undefined
  }

  string (key: string): string
  string (key: string, fallback: string | undefined): string | undefined
  string (key: string, fallback?: string): string | undefined {
    const v = this.map.get(key)
    if (v === undefined) {
      if (arguments.length > 1) return fallback
      throw new BadModelFileError(`${this.where}: metadata "${key}" is missing`)
    }
    if (typeof v !== 'string') throw new BadModelFileError(`${this.where}: metadata "${key}" should be a string`)
    return v
  }

  bool (key: string, fallback: boolean): boolean {
    const v = this.map.get(key)
    if (v === undefined) return fallback
    if (typeof v !== 'boolean') throw new BadModelFileError(`${this.where}: metadata "${key}" should be a boolean`)
    return v
  }

  strings (key: string): readonly string[] | undefined {
    const v = this.map.get(key)
    if (v === undefined) return undefined
    if (!Array.isArray(v) || v.some(s => typeof s !== 'string')) throw new BadModelFileError(`${this.where}: metadata "${key}" should be an array of strings`)
    return v as string[]
  }

  numbers (key: string): Float64Array | undefined {
    const v = this.map.get(key)
    if (v === undefined) return undefined
    if (ArrayBuffer.isView(v) && !(v instanceof BigInt64Array) && !(v instanceof BigUint64Array)) return Float64Array.from(v as ArrayLike<number>)
    throw new BadModelFileError(`${this.where}: metadata "${key}" should be an array of numbers`)
  }
}

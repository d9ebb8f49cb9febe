/**
 * Writes GGUF v3 files: metadata with explicit value types, tensor infos, aligned tensor data.
 * Used by the quantizer, the benchmarks and tests that need model files. Tensors' data may be
 * produced lazily so a large model never sits in memory whole.
 */
import { closeSync, openSync, writeSync } from 'node:fs'
import { type DType, DTYPES, byteSize } from '../../tensor/index.ts'
import { InvalidArgumentError } from '../../util/errors.ts'
import { BadModelFileError } from '../../util/errors.ts'
import { GGUF_DEFAULT_ALIGNMENT, GGUF_MAGIC, type GgufValue, ValueType } from './types.ts'

export type MetaValue =
  | { type: 'u32' | 'i32' | 'f32' | 'u64' | 'f64' | 'u8' | 'i8', value: number }
  | { type: 'bool', value: boolean }
  | { type: 'string', value: string }
  | { type: 'array', itemType: 'string', value: readonly string[] }
  | { type: 'array', itemType: 'f32' | 'i32' | 'u32', value: ArrayLike<number> }

export const meta = {
  u32: (value: number): MetaValue => ({ type: 'u32', value }),
  i32: (value: number): MetaValue => ({ type: 'i32', value }),
  f32: (value: number): MetaValue => ({ type: 'f32', value }),
  bool: (value: boolean): MetaValue => ({ type: 'bool', value }),
  str: (value: string): MetaValue => ({ type: 'string', value }),
  strings: (value: readonly string[]): MetaValue => ({ type: 'array', itemType: 'string', value }),
  f32s: (value: ArrayLike<number>): MetaValue => ({ type: 'array', itemType: 'f32', value }),
  i32s: (value: ArrayLike<number>): MetaValue => ({ type: 'array', itemType: 'i32', value })
}

export interface TensorToWrite {
  readonly name: string
  readonly dtype: DType
  /** row-major, last dimension contiguous (written to GGUF reversed, as ne) */
  readonly shape: readonly number[]
  readonly data: Uint8Array | (() => Uint8Array)
}

const SCALAR: Record<string, [ValueType, number]> = {
  u8: [ValueType.U8, 1], i8: [ValueType.I8, 1], u32: [ValueType.U32, 4], i32: [ValueType.I32, 4],
  f32: [ValueType.F32, 4], u64: [ValueType.U64, 8], f64: [ValueType.F64, 8], bool: [ValueType.BOOL, 1]
}

class Bytes {
  private chunks: Buffer[] = []
  length = 0
  push (b: Buffer): void { this.chunks.push(b); this.length += b.length }
  u32 (v: number): void { const b = Buffer.alloc(4); b.writeUInt32LE(v); this.push(b) }
  u64 (v: number): void { const b = Buffer.alloc(8); b.writeBigUInt64LE(BigInt(v)); this.push(b) }
  str (s: string): void { const b = Buffer.from(s, 'utf8'); this.u64(b.length); this.push(b) }
  scalar (type: string, v: number | boolean): void {
    const [, size] = SCALAR[type]!
    const b = Buffer.alloc(size)
    switch (type) {
      case 'u8': b.writeUInt8(v as number); break
      case 'i8': b.writeInt8(v as number); break
      case 'u32': b.writeUInt32LE(v as number); break
      case 'i32': b.writeInt32LE(v as number); break
      case 'f32': b.writeFloatLE(v as number); break
      case 'f64': b.writeDoubleLE(v as number); break
      case 'u64': b.writeBigUInt64LE(BigInt(v as number)); break
      case 'bool': b.writeUInt8(v === true ? 1 : 0); break
    }
    this.push(b)
  }

  value (v: MetaValue): void {
    if (v.type === 'string') { this.u32(ValueType.STRING); this.str(v.value); return }
    if (v.type === 'array') {
      this.u32(ValueType.ARRAY)
      if (v.itemType === 'string') {
        this.u32(ValueType.STRING); this.u64(v.value.length)
        for (const s of v.value as readonly string[]) this.str(s)
      } else {
        this.u32(SCALAR[v.itemType]![0]); this.u64(v.value.length)
        for (let i = 0; i < v.value.length; i++) this.scalar(v.itemType, (v.value as ArrayLike<number>)[i]!)
      }
      return
    }
    this.u32(SCALAR[v.type]![0])
    this.scalar(v.type, v.value)
  }

  concat (): Buffer { return Buffer.concat(this.chunks) }
}

export function writeGguf (path: string, metadata: ReadonlyArray<readonly [string, MetaValue]>, tensors: readonly TensorToWrite[], alignment = GGUF_DEFAULT_ALIGNMENT): void {
  const head = new Bytes()
  head.u32(GGUF_MAGIC)
  head.u32(3)
  head.u64(tensors.length)
  const kvs: Array<readonly [string, MetaValue]> = [...metadata]
  if (alignment !== GGUF_DEFAULT_ALIGNMENT) kvs.push(['general.alignment', meta.u32(alignment)])
  head.u64(kvs.length)
  for (const [key, value] of kvs) { head.str(key); head.value(value) }
  let offset = 0
  const offsets: number[] = []
  for (const t of tensors) {
    head.str(t.name)
    head.u32(t.shape.length)
    for (const d of [...t.shape].reverse()) head.u64(d)
    head.u32(DTYPES[t.dtype].ggmlType)
    head.u64(offset)
    offsets.push(offset)
    offset = align(offset + byteSize(t.dtype, t.shape), alignment)
  }
  const fd = openSync(path, 'w')
  try {
    const header = head.concat()
    writeSync(fd, header)
    const dataStart = align(header.length, alignment)
    tensors.forEach((t, i) => {
      const data = typeof t.data === 'function' ? t.data() : t.data
      if (data.byteLength !== byteSize(t.dtype, t.shape)) {
        throw new InvalidArgumentError(`tensor ${t.name}: ${data.byteLength} bytes given, shape [${t.shape.join(', ')}] of ${t.dtype} needs ${byteSize(t.dtype, t.shape)}`)
      }
      writeSync(fd, data, 0, data.byteLength, dataStart + offsets[i]!)
    })
    // pad the file to the aligned end of the last tensor, as llama.cpp's writer does
    const last = tensors.length - 1
    const dataEnd = last < 0 ? 0 : offsets[last]! + byteSize(tensors[last]!.dtype, tensors[last]!.shape)
    if (offset > dataEnd) writeSync(fd, Buffer.alloc(offset - dataEnd), 0, offset - dataEnd, dataStart + dataEnd)
  } finally {
    closeSync(fd)
  }
}

function align (n: number, a: number): number {
  return Math.ceil(n / a) * a
}

/** A metadata value as read (reader.ts) back into a MetaValue of the same GGUF type. */
export function metaValue (key: string, value: GgufValue, type: ValueType): MetaValue {
  const scalar: Partial<Record<ValueType, 'u8' | 'i8' | 'u32' | 'i32' | 'f32' | 'u64' | 'f64'>> = {
    [ValueType.U8]: 'u8', [ValueType.I8]: 'i8', [ValueType.U32]: 'u32', [ValueType.I32]: 'i32', [ValueType.F32]: 'f32', [ValueType.U64]: 'u64', [ValueType.F64]: 'f64'
  }
  const s = scalar[type]
  if (s !== undefined && typeof value === 'number') return { type: s, value }
  if (type === ValueType.BOOL && typeof value === 'boolean') return meta.bool(value)
  if (type === ValueType.STRING && typeof value === 'string') return meta.str(value)
  if (type === ValueType.ARRAY) {
    if (value instanceof Float32Array) return meta.f32s(value)
    if (value instanceof Int32Array) return meta.i32s(value)
    if (value instanceof Uint32Array) return { type: 'array', itemType: 'u32', value }
    if (Array.isArray(value) && value.every(v => typeof v === 'string')) return meta.strings(value as string[])
  }
  throw new BadModelFileError(`metadata "${key}" has a type the GGUF writer does not copy (value type ${type})`)
}

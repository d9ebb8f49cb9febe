/**
 * Parses a GGUF (v2/v3) header: metadata, tensor infos and the aligned data offset. Tensor data is
 * not read here; loaders read each tensor once, straight from its offset.
 */
import { closeSync, fstatSync, openSync, readSync } from 'node:fs'
import { BadModelFileError } from '../../util/errors.ts'
import { openOrThrow } from '../files.ts'
import { GGUF_DEFAULT_ALIGNMENT, GGUF_MAGIC, type GgufFile, type GgufTensorInfo, type GgufValue, ValueType } from './types.ts'

const MAX_STRING = 1 << 24
const MAX_ARRAY = 1 << 28
const MAX_DIMS = 4

/** Reads little-endian values from a file through a buffer that refills on demand. */
class Cursor {
  // read `buf` only after ensure(): ensure() may replace it
  private buf = Buffer.alloc(0)
  private bufStart = 0
  pos = 0
  constructor (private readonly fd: number, readonly size: number, private readonly path: string) {}

  private ensure (n: number): number {
    const end = this.pos + n
    if (end > this.size) throw new BadModelFileError(`${this.path}: truncated GGUF header (needs byte ${end}, file has ${this.size})`)
    if (this.pos < this.bufStart || end > this.bufStart + this.buf.length) {
      const len = Math.min(Math.max(n, 1 << 20), this.size - this.pos)
      this.buf = Buffer.alloc(len)
      readSync(this.fd, this.buf, 0, len, this.pos)
      this.bufStart = this.pos
    }
    const at = this.pos - this.bufStart
    this.pos = end
    return at
  }

  u8 (): number { const at = this.ensure(1); return this.buf.readUInt8(at) }
  i8 (): number { const at = this.ensure(1); return this.buf.readInt8(at) }
  u16 (): number { const at = this.ensure(2); return this.buf.readUInt16LE(at) }
  i16 (): number { const at = this.ensure(2); return this.buf.readInt16LE(at) }
  u32 (): number { const at = this.ensure(4); return this.buf.readUInt32LE(at) }
  i32 (): number { const at = this.ensure(4); return this.buf.readInt32LE(at) }
  f32 (): number { const at = this.ensure(4); return this.buf.readFloatLE(at) }
  f64 (): number { const at = this.ensure(8); return this.buf.readDoubleLE(at) }
  u64 (): bigint { const at = this.ensure(8); return this.buf.readBigUInt64LE(at) }
  i64 (): bigint { const at = this.ensure(8); return this.buf.readBigInt64LE(at) }

  /** A u64 that must fit a JS number below `limit`. */
  count (what: string, limit = Number.MAX_SAFE_INTEGER): number {
    const v = this.u64()
    if (v > BigInt(limit)) throw new BadModelFileError(`${this.path}: implausible ${what} ${v} at byte ${this.pos - 8}`)
    return Number(v)
  }

  string (): string {
    const len = this.count('string length', MAX_STRING)
    const at = this.ensure(len)
    return this.buf.toString('utf8', at, at + len)
  }
}

function readValue (c: Cursor, type: number, key: string): GgufValue {
  switch (type) {
    case ValueType.U8: return c.u8()
    case ValueType.I8: return c.i8()
    case ValueType.U16: return c.u16()
    case ValueType.I16: return c.i16()
    case ValueType.U32: return c.u32()
    case ValueType.I32: return c.i32()
    case ValueType.F32: return c.f32()
    case ValueType.F64: return c.f64()
    case ValueType.BOOL: return c.u8() !== 0
    case ValueType.STRING: return c.string()
    case ValueType.U64: { const v = c.u64(); return v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v }
    case ValueType.I64: { const v = c.i64(); return v <= BigInt(Number.MAX_SAFE_INTEGER) && v >= -BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v }
    case ValueType.ARRAY: return readArray(c, key)
    default: throw new BadModelFileError(`metadata "${key}" has unknown value type ${type}`)
  }
}

function readArray (c: Cursor, key: string): GgufValue {
  const type = c.u32()
  const n = c.count(`array length of "${key}"`, MAX_ARRAY)
  const fill = <T extends { [i: number]: number }>(arr: T, read: () => number): T => {
    for (let i = 0; i < n; i++) arr[i] = read()
    return arr
  }
  switch (type) {
    case ValueType.U8: return fill(new Uint8Array(n), () => c.u8())
    case ValueType.I8: return fill(new Int8Array(n), () => c.i8())
    case ValueType.U16: return fill(new Uint16Array(n), () => c.u16())
    case ValueType.I16: return fill(new Int16Array(n), () => c.i16())
    case ValueType.U32: return fill(new Uint32Array(n), () => c.u32())
    case ValueType.I32: return fill(new Int32Array(n), () => c.i32())
    case ValueType.F32: return fill(new Float32Array(n), () => c.f32())
    case ValueType.F64: return fill(new Float64Array(n), () => c.f64())
    case ValueType.U64: { const a = new BigUint64Array(n); for (let i = 0; i < n; i++) a[i] = c.u64(); return a }
    case ValueType.I64: { const a = new BigInt64Array(n); for (let i = 0; i < n; i++) a[i] = c.i64(); return a }
    case ValueType.BOOL: return Array.from({ length: n }, () => c.u8() !== 0)
    case ValueType.STRING: return Array.from({ length: n }, () => c.string())
    default: return Array.from({ length: n }, () => readValue(c, type, key))
  }
}

/** Reads the header of the GGUF file at `path`. */
export function readGguf (path: string): GgufFile {
  const fd = openOrThrow(path, openSync)
  try {
    const fileSize = fstatSync(fd).size
    const c = new Cursor(fd, fileSize, path)
    if (fileSize < 4 || c.u32() !== GGUF_MAGIC) throw new BadModelFileError(`${path}: not a GGUF file (wrong magic)`)
    const version = c.u32()
    if (version !== 2 && version !== 3) throw new BadModelFileError(`${path}: GGUF version ${version} is not supported (2 and 3 are)`)
    const nTensors = c.count('tensor count', 1 << 20)
    const nKv = c.count('metadata count', 1 << 20)

    const metadata = new Map<string, GgufValue>()
    const metadataTypes = new Map<string, ValueType>()
    for (let i = 0; i < nKv; i++) {
      const key = c.string()
      const type = c.u32()
      metadata.set(key, readValue(c, type, key))
      metadataTypes.set(key, type)
    }
    const alignment = typeof metadata.get('general.alignment') === 'number' ? metadata.get('general.alignment') as number : GGUF_DEFAULT_ALIGNMENT
    if (alignment <= 0 || (alignment & (alignment - 1)) !== 0) throw new BadModelFileError(`${path}: general.alignment ${alignment} is not a power of two`)

    const infos: Array<{ name: string, ne: number[], ggmlType: number, rel: number }> = []
    for (let i = 0; i < nTensors; i++) {
      const name = c.string()
      const nDims = c.u32()
      if (nDims < 1 || nDims > MAX_DIMS) throw new BadModelFileError(`${path}: tensor "${name}" has ${nDims} dimensions`)
      const ne = Array.from({ length: nDims }, () => c.count(`dimension of "${name}"`, 2 ** 31))
      const ggmlType = c.u32()
      const rel = c.count(`offset of "${name}"`)
      if (rel % alignment !== 0) throw new BadModelFileError(`${path}: tensor "${name}" is not aligned to ${alignment} bytes`)
      infos.push({ name, ne, ggmlType, rel })
    }
    const dataOffset = Math.ceil(c.pos / alignment) * alignment
    const tensors: GgufTensorInfo[] = infos.map(t => ({ name: t.name, ne: t.ne, ggmlType: t.ggmlType, offset: dataOffset + t.rel }))
    return { version, metadata, metadataTypes, tensors, alignment, dataOffset, fileSize }
  } finally {
    closeSync(fd)
  }
}

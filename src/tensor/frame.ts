/**
 * Binary tensor frames: how activations cross the wire. Little-endian throughout.
 *
 *   offset      size  field
 *   0           4     magic "GTFR"
 *   4           1     version (1)
 *   5           1     dtype: 0 = f32, 1 = f16, 2 = i8 (per row of the last dimension: an f32 scale,
 *                     all rows' scales first, then the int8 values; a value is int8 × its row's scale)
 *   6           1     ndim (1..4)
 *   7           1     flags (0; reserved)
 *   8           4·nd  shape, u32 each
 *   8 + 4·nd    4     byte length of the data
 *   12 + 4·nd   4     CRC-32 (IEEE) of the data
 *   16 + 4·nd   n     raw data, little-endian
 *
 * A decoder checks every field, the size limit before touching the data, and the checksum.
 */
import { crc32 } from './crc32.ts'
import { FrameError } from '../util/errors.ts'
import { decodeF16, encodeF16 } from './f16.ts'

export type FrameDType = 'f32' | 'f16' | 'i8'
export const FRAME_DTYPES: readonly FrameDType[] = ['f32', 'f16', 'i8']

export const FRAME_MAGIC = 0x52465447 // "GTFR" read as a little-endian u32
export const FRAME_VERSION = 1
export const FRAME_MAX_DIMS = 4
/** default cap on a frame's data: 64 MiB */
export const DEFAULT_MAX_FRAME_BYTES = 64 * 2 ** 20

const DTYPE_CODES: Readonly<Record<FrameDType, number>> = { f32: 0, f16: 1, i8: 2 }

/** Data bytes of `n` values in rows of `cols` (the last dimension). */
function dataBytes (dtype: FrameDType, n: number, cols: number): number {
  if (dtype === 'i8') return n + 4 * (cols === 0 ? 0 : n / cols)
  return n * (dtype === 'f32' ? 4 : 2)
}
const LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1

export interface TensorFrame {
  readonly dtype: FrameDType
  readonly shape: readonly number[]
  /** the values, widened to f32 */
  readonly data: Float32Array
}

export interface FrameLimits {
  /** the most data bytes a frame may carry */
  maxBytes?: number
}

export function frameHeaderLength (ndim: number): number {
  return 16 + 4 * ndim
}

function checkShape (shape: readonly number[]): number {
  if (shape.length < 1 || shape.length > FRAME_MAX_DIMS) throw new FrameError('BAD_FRAME', `a frame has 1 to ${FRAME_MAX_DIMS} dimensions, got ${shape.length}`)
  let n = 1
  for (const d of shape) {
    if (!Number.isInteger(d) || d < 0 || d > 0xffffffff) throw new FrameError('BAD_FRAME', `bad dimension ${d} in shape [${shape.join(', ')}]`)
    n *= d
  }
  return n
}

/** Encodes `data` with `shape` as a frame of `dtype` (f16 rounds to nearest even; i8 to the nearest step of its row). */
export function encodeFrame (data: Float32Array, shape: readonly number[], options: FrameLimits & { dtype?: FrameDType } = {}): Uint8Array {
  const dtype = options.dtype ?? 'f32'
  const n = checkShape(shape)
  if (n !== data.length) throw new FrameError('BAD_FRAME', `shape [${shape.join(', ')}] holds ${n} values, got ${data.length}`)
  const cols = shape[shape.length - 1]!
  const byteLength = dataBytes(dtype, n, cols)
  const maxBytes = options.maxBytes ?? DEFAULT_MAX_FRAME_BYTES
  if (byteLength > maxBytes) throw new FrameError('FRAME_TOO_LARGE', `a frame of ${byteLength} bytes exceeds the limit of ${maxBytes}`)
  const head = frameHeaderLength(shape.length)
  const out = new Uint8Array(head + byteLength)
  const body = out.subarray(head)
  if (dtype === 'i8') encodeI8(data, cols, body)
  else {
    const src = dtype === 'f32' ? data : encodeF16(data)
    if (LITTLE_ENDIAN) body.set(new Uint8Array(src.buffer, src.byteOffset, byteLength))
    else {
      const view = new DataView(body.buffer, body.byteOffset, byteLength)
      if (dtype === 'f32') for (let i = 0; i < n; i++) view.setFloat32(4 * i, data[i]!, true)
      else for (let i = 0; i < n; i++) view.setUint16(2 * i, (src as Uint16Array)[i]!, true)
    }
  }
  const view = new DataView(out.buffer, out.byteOffset, head)
  view.setUint32(0, FRAME_MAGIC, true)
  view.setUint8(4, FRAME_VERSION)
  view.setUint8(5, DTYPE_CODES[dtype])
  view.setUint8(6, shape.length)
  view.setUint8(7, 0)
  shape.forEach((d, i) => view.setUint32(8 + 4 * i, d, true))
  view.setUint32(8 + 4 * shape.length, byteLength, true)
  view.setUint32(12 + 4 * shape.length, crc32(body), true)
  return out
}

/** Decodes a frame that must fill `bytes` exactly. Throws FrameError (BAD_FRAME, FRAME_CHECKSUM, FRAME_TOO_LARGE). */
export function decodeFrame (bytes: Uint8Array, options: FrameLimits = {}): TensorFrame {
  if (bytes.byteLength < frameHeaderLength(1)) throw new FrameError('BAD_FRAME', `a frame needs at least ${frameHeaderLength(1)} bytes, got ${bytes.byteLength}`)
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  if (view.getUint32(0, true) !== FRAME_MAGIC) throw new FrameError('BAD_FRAME', 'not a tensor frame (bad magic)')
  const version = view.getUint8(4)
  if (version !== FRAME_VERSION) throw new FrameError('BAD_FRAME', `unsupported frame version ${version} (this peer reads ${FRAME_VERSION})`)
  const code = view.getUint8(5)
  const dtype = (Object.keys(DTYPE_CODES) as FrameDType[]).find(k => DTYPE_CODES[k] === code)
  if (dtype === undefined) throw new FrameError('BAD_FRAME', `unknown frame dtype code ${code}`)
  const ndim = view.getUint8(6)
  if (ndim < 1 || ndim > FRAME_MAX_DIMS) throw new FrameError('BAD_FRAME', `a frame has 1 to ${FRAME_MAX_DIMS} dimensions, got ${ndim}`)
  if (view.getUint8(7) !== 0) throw new FrameError('BAD_FRAME', 'unknown frame flags')
  const head = frameHeaderLength(ndim)
  if (bytes.byteLength < head) throw new FrameError('BAD_FRAME', `truncated frame header: ${bytes.byteLength} of ${head} bytes`)
  const shape = Array.from({ length: ndim }, (_, i) => view.getUint32(8 + 4 * i, true))
  const byteLength = view.getUint32(8 + 4 * ndim, true)
  const maxBytes = options.maxBytes ?? DEFAULT_MAX_FRAME_BYTES
  if (byteLength > maxBytes) throw new FrameError('FRAME_TOO_LARGE', `a frame of ${byteLength} bytes exceeds the limit of ${maxBytes}`)
  const n = checkShape(shape)
  const cols = shape[ndim - 1]!
  if (dataBytes(dtype, n, cols) !== byteLength) {
    throw new FrameError('BAD_FRAME', `shape [${shape.join(', ')}] of ${dtype} needs ${dataBytes(dtype, n, cols)} bytes, the frame says ${byteLength}`)
  }
  if (bytes.byteLength !== head + byteLength) {
    throw new FrameError('BAD_FRAME', `frame carries ${bytes.byteLength - head} data bytes, its header says ${byteLength}`)
  }
  const body = bytes.subarray(head)
  if (crc32(body) !== view.getUint32(12 + 4 * ndim, true)) throw new FrameError('FRAME_CHECKSUM', 'frame checksum mismatch: the data was corrupted')
  let data: Float32Array
  if (dtype === 'i8') {
    data = decodeI8(body, n, cols)
  } else if (dtype === 'f32') {
    data = new Float32Array(n)
    if (LITTLE_ENDIAN) new Uint8Array(data.buffer).set(body)
    else for (let i = 0; i < n; i++) data[i] = view.getFloat32(head + 4 * i, true)
  } else {
    const half = new Uint16Array(n)
    if (LITTLE_ENDIAN) new Uint8Array(half.buffer).set(body)
    else for (let i = 0; i < n; i++) half[i] = view.getUint16(head + 2 * i, true)
    data = decodeF16(half)
  }
  return { dtype, shape, data }
}

/**
 * int8 with a scale per row: the row's largest magnitude maps to 127, every value rounds to the
 * nearest step. Writes (rows) f32 scales then (n) int8 into `body`. Only finite values fit.
 */
function encodeI8 (data: Float32Array, cols: number, body: Uint8Array): void {
  const rows = cols === 0 ? 0 : data.length / cols
  const view = new DataView(body.buffer, body.byteOffset, body.byteLength)
  const q = new Int8Array(body.buffer, body.byteOffset + 4 * rows, data.length) // (rows, cols)
  for (let r = 0; r < rows; r++) {
    let max = 0
    for (let i = r * cols; i < (r + 1) * cols; i++) {
      const a = Math.abs(data[i]!)
      if (!(a <= max)) { // a > max, or NaN
        if (!Number.isFinite(a)) throw new FrameError('BAD_FRAME', `an i8 frame carries finite values only, row ${r} has ${data[i]}`)
        max = a
      }
    }
    const scale = Math.fround(max / 127) // as the decoder reads it
    view.setFloat32(4 * r, scale, true)
    for (let i = r * cols; i < (r + 1) * cols; i++) q[i] = scale === 0 ? 0 : Math.max(-127, Math.min(127, Math.round(data[i]! / scale)))
  }
}

function decodeI8 (body: Uint8Array, n: number, cols: number): Float32Array {
  const rows = cols === 0 ? 0 : n / cols
  const view = new DataView(body.buffer, body.byteOffset, body.byteLength)
  const q = new Int8Array(body.buffer, body.byteOffset + 4 * rows, n)
  const out = new Float32Array(n) // (rows, cols)
  for (let r = 0; r < rows; r++) {
    const scale = view.getFloat32(4 * r, true)
    if (!(Number.isFinite(scale) && scale >= 0)) throw new FrameError('BAD_FRAME', `row ${r} of an i8 frame has scale ${scale}`)
    for (let i = r * cols; i < (r + 1) * cols; i++) out[i] = q[i]! * scale
  }
  return out
}

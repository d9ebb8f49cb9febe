import { type DType, byteSize } from '../../tensor/index.ts'
import { ShapeMismatchError } from '../../util/errors.ts'
import type { Tensor } from '../backend.ts'

/** The reference backend's tensor: raw bytes in a JS buffer, with an f32 view for f32 tensors. */
export class RefTensor implements Tensor {
  readonly dtype: DType
  readonly shape: readonly number[]
  readonly bytes: Uint8Array
  /** set for f32 tensors */
  readonly f32: Float32Array | undefined

  constructor (dtype: DType, shape: readonly number[], bytes: Uint8Array) {
    const expected = byteSize(dtype, shape)
    if (bytes.byteLength !== expected) {
      throw new ShapeMismatchError(`${dtype} tensor of shape [${shape.join(', ')}] needs ${expected} bytes, got ${bytes.byteLength}`)
    }
    this.dtype = dtype
    this.shape = [...shape]
    if (dtype === 'f32' && bytes.byteOffset % 4 !== 0) bytes = bytes.slice() // align for the f32 view
    this.bytes = bytes
    this.f32 = dtype === 'f32' ? new Float32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4) : undefined
  }
}

export function asRef (t: Tensor): RefTensor {
  if (!(t instanceof RefTensor)) throw new TypeError('tensor does not belong to the ref backend')
  return t
}

/** The f32 view of a tensor; throws for non-f32 tensors. */
export function f32Of (t: Tensor): Float32Array {
  const r = asRef(t)
  if (r.f32 === undefined) throw new TypeError(`expected an f32 tensor, got ${r.dtype}`)
  return r.f32
}

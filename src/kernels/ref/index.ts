import { type DType, byteSize, finiteScales } from '../../tensor/index.ts'
import { BadModelFileError } from '../../util/errors.ts'
import type { Backend, Tensor } from '../backend.ts'
import { RefTensor, asRef, f32Of } from './tensor.ts'
import * as ops from './ops.ts'

/** The plain-TypeScript reference backend: the oracle every other backend is tested against. */
export class RefBackend implements Backend {
  readonly name = 'ref'
  readonly weightTypes: readonly DType[] = ['f32', 'f16', 'bf16', 'q8_0', 'q4_0', 'q5_0', 'q5_1', 'q2_k', 'q3_k', 'q4_k', 'q5_k', 'q6_k']
  private live = 0

  fromBytes (dtype: DType, shape: readonly number[], bytes: Uint8Array): Tensor {
    if (!finiteScales(dtype, bytes)) throw new BadModelFileError(`a ${dtype} tensor of shape [${shape.join(', ')}] has infinite or NaN block scales`)
    const t = new RefTensor(dtype, shape, bytes)
    this.live += t.bytes.byteLength
    return t
  }

  zeros (shape: readonly number[]): Tensor {
    return this.fromBytes('f32', shape, new Uint8Array(byteSize('f32', shape)))
  }

  write (t: Tensor, src: Float32Array, offset = 0): void {
    f32Of(t).set(src, offset)
  }

  read (t: Tensor, offset = 0, length?: number): Float32Array {
    const view = f32Of(t)
    return view.slice(offset, length === undefined ? view.length : offset + length)
  }

  async readAsync (t: Tensor, offset?: number, length?: number): Promise<Float32Array> {
    return this.read(t, offset, length)
  }

  free (t: Tensor): void {
    this.live -= asRef(t).bytes.byteLength
  }

  allocatedBytes (): number {
    return this.live
  }

  dispose (): void {}

  matmul = ops.matmul
  addBias = ops.addBias
  add = ops.add
  rmsnorm = ops.rmsnorm
  rope = ops.rope
  attention = ops.attention
  copyRows = ops.copyRows
  siluMul = ops.siluMul
  getRows = ops.getRows
}

/** Converts between f32 arrays and the raw little-endian bytes of any DType. */
import { type DType, byteSize } from './dtype.ts'
import { bf16ToF32, f16ToF32, f32ToBf16, f32ToF16 } from './f16.ts'
import * as q8_0 from './q8_0.ts'
import * as q4_0 from './q4_0.ts'
import * as q5_0 from './q5_0.ts'
import * as q5_1 from './q5_1.ts'
import * as q2_k from './q2_k.ts'
import * as q3_k from './q3_k.ts'
import * as q4_k from './q4_k.ts'
import * as q5_k from './q5_k.ts'
import * as q6_k from './q6_k.ts'

/** The block formats' reference quantizers and dequantizers. */
const BLOCK_CODECS = { q8_0, q4_0, q5_0, q5_1, q2_k, q3_k, q4_k, q5_k, q6_k } as const

/** Encodes f32 values as `dtype` bytes (quantizing if needed). */
export function encode (dtype: DType, src: Float32Array): Uint8Array {
  switch (dtype) {
    case 'f32': return new Uint8Array(src.slice().buffer)
    case 'f16': {
      const out = new Uint16Array(src.length)
      for (let i = 0; i < src.length; i++) out[i] = f32ToF16(src[i]!)
      return new Uint8Array(out.buffer)
    }
    case 'bf16': {
      const out = new Uint16Array(src.length)
      for (let i = 0; i < src.length; i++) out[i] = f32ToBf16(src[i]!)
      return new Uint8Array(out.buffer)
    }
    default: byteSize(dtype, [src.length]); return BLOCK_CODECS[dtype].quantizeRef(src)
  }
}

/** Decodes `n` values of `dtype` from `bytes` (which may start at any byte offset). */
export function decode (dtype: DType, bytes: Uint8Array, n: number, dst: Float32Array = new Float32Array(n)): Float32Array {
  switch (dtype) {
    case 'f32': {
      if (bytes.byteOffset % 4 === 0) dst.set(new Float32Array(bytes.buffer, bytes.byteOffset, n))
      else new Uint8Array(dst.buffer, dst.byteOffset, n * 4).set(bytes.subarray(0, n * 4))
      return dst
    }
    case 'f16':
    case 'bf16': {
      const view = new DataView(bytes.buffer, bytes.byteOffset, n * 2)
      const conv = dtype === 'f16' ? f16ToF32 : bf16ToF32
      for (let i = 0; i < n; i++) dst[i] = conv(view.getUint16(i * 2, true))
      return dst
    }
    default: return BLOCK_CODECS[dtype].dequantizeRef(bytes, n, dst)
  }
}

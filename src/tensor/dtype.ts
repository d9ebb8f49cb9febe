import { UnsupportedTensorTypeError, ShapeMismatchError } from '../util/errors.ts'

/** Element types gridllm stores. Quantized types are GGUF's block formats, byte for byte. */
export type DType = 'f32' | 'f16' | 'bf16' | 'q8_0' | 'q4_0' | 'q5_0' | 'q5_1' | 'q2_k' | 'q3_k' | 'q4_k' | 'q5_k' | 'q6_k'

export interface DTypeInfo {
  /** elements per block (1 for plain floats) */
  readonly blockSize: number
  /** bytes per block */
  readonly blockBytes: number
  /** the GGML type id used in GGUF tensor infos */
  readonly ggmlType: number
}

export const DTYPES: Readonly<Record<DType, DTypeInfo>> = {
  f32: { blockSize: 1, blockBytes: 4, ggmlType: 0 },
  f16: { blockSize: 1, blockBytes: 2, ggmlType: 1 },
  q4_0: { blockSize: 32, blockBytes: 18, ggmlType: 2 },
  q5_0: { blockSize: 32, blockBytes: 22, ggmlType: 6 },
  q5_1: { blockSize: 32, blockBytes: 24, ggmlType: 7 },
  q8_0: { blockSize: 32, blockBytes: 34, ggmlType: 8 },
  q2_k: { blockSize: 256, blockBytes: 84, ggmlType: 10 },
  q3_k: { blockSize: 256, blockBytes: 110, ggmlType: 11 },
  q4_k: { blockSize: 256, blockBytes: 144, ggmlType: 12 },
  q5_k: { blockSize: 256, blockBytes: 176, ggmlType: 13 },
  q6_k: { blockSize: 256, blockBytes: 210, ggmlType: 14 },
  bf16: { blockSize: 1, blockBytes: 2, ggmlType: 30 }
}

/** Every GGML type id, so an unsupported one can be named in the error. */
const GGML_TYPE_NAMES: Readonly<Record<number, string>> = {
  0: 'F32', 1: 'F16', 2: 'Q4_0', 3: 'Q4_1', 6: 'Q5_0', 7: 'Q5_1', 8: 'Q8_0', 9: 'Q8_1',
  10: 'Q2_K', 11: 'Q3_K', 12: 'Q4_K', 13: 'Q5_K', 14: 'Q6_K', 15: 'Q8_K',
  16: 'IQ2_XXS', 17: 'IQ2_XS', 18: 'IQ3_XXS', 19: 'IQ1_S', 20: 'IQ4_NL', 21: 'IQ3_S', 22: 'IQ2_S',
  23: 'IQ4_XS', 24: 'I8', 25: 'I16', 26: 'I32', 27: 'I64', 28: 'F64', 29: 'IQ1_M', 30: 'BF16',
  34: 'TQ1_0', 35: 'TQ2_0', 39: 'MXFP4'
}

export function ggmlTypeName (type: number): string {
  return GGML_TYPE_NAMES[type] ?? `unknown type ${type}`
}

export function dtypeFromGgml (type: number, tensor: string): DType {
  for (const [name, info] of Object.entries(DTYPES) as Array<[DType, DTypeInfo]>) {
    if (info.ggmlType === type) return name
  }
  throw new UnsupportedTensorTypeError(
    `tensor "${tensor}" has type ${ggmlTypeName(type)}; supported: ${Object.keys(DTYPES).join(', ')}`)
}

export function numel (shape: readonly number[]): number {
  let n = 1
  for (const d of shape) n *= d
  return n
}

/** Bytes of a tensor whose last (fastest) dimension is `shape[shape.length - 1]`. */
export function byteSize (dtype: DType, shape: readonly number[]): number {
  const { blockSize, blockBytes } = DTYPES[dtype]
  const rowLen = shape[shape.length - 1] ?? 1
  if (rowLen % blockSize !== 0) {
    throw new ShapeMismatchError(`a ${dtype} row must be a multiple of ${blockSize} elements, got ${rowLen}`)
  }
  return (numel(shape) / blockSize) * blockBytes
}

export function isQuantized (dtype: DType): boolean {
  return DTYPES[dtype].blockSize > 1
}

/** Byte offsets of the f16 scales (and mins) inside one block of each quantized type, as GGUF lays it out. */
export const BLOCK_SCALES: Partial<Readonly<Record<DType, readonly number[]>>> = {
  q8_0: [0], q4_0: [0], q5_0: [0], q5_1: [0, 2], q2_k: [80, 82], q3_k: [108], q4_k: [0, 2], q5_k: [0, 2], q6_k: [208]
}

/** Whether every block scale of quantized `bytes` is finite (llama.cpp refuses rows whose are not). */
export function finiteScales (dtype: DType, bytes: Uint8Array): boolean {
  const offsets = BLOCK_SCALES[dtype]
  if (offsets === undefined) return true
  const size = DTYPES[dtype].blockBytes
  for (let o = 0; o < bytes.length; o += size) {
    for (const s of offsets) if ((bytes[o + s + 1]! & 0x7c) === 0x7c) return false // exponent all ones
  }
  return true
}

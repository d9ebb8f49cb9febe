/** GGUF's on-disk vocabulary (https://github.com/ggml-org/ggml/blob/master/docs/gguf.md). */

export const GGUF_MAGIC = 0x46554747 // "GGUF" read as a little-endian u32
export const GGUF_DEFAULT_ALIGNMENT = 32

export const enum ValueType {
  U8 = 0, I8 = 1, U16 = 2, I16 = 3, U32 = 4, I32 = 5, F32 = 6, BOOL = 7,
  STRING = 8, ARRAY = 9, U64 = 10, I64 = 11, F64 = 12
}

/** A metadata value as read: numbers (u64/i64 as number when exact, else bigint), strings, typed arrays. */
export type GgufValue =
  | number | bigint | boolean | string
  | readonly string[] | readonly boolean[] | readonly GgufValue[]
  | Float32Array | Float64Array | Int32Array | Uint32Array | Int8Array | Uint8Array | Int16Array | Uint16Array
  | BigInt64Array | BigUint64Array

export interface GgufTensorInfo {
  readonly name: string
  /** GGUF's ne: fastest dimension first */
  readonly ne: readonly number[]
  readonly ggmlType: number
  /** absolute offset of the data in the file */
  readonly offset: number
}

export interface GgufFile {
  readonly version: number
  readonly metadata: ReadonlyMap<string, GgufValue>
  /** each metadata value's type as stored (arrays: ARRAY; their items' type shows in the value's class) */
  readonly metadataTypes: ReadonlyMap<string, ValueType>
  readonly tensors: readonly GgufTensorInfo[]
  readonly alignment: number
  readonly dataOffset: number
  readonly fileSize: number
}

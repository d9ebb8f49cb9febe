/**
 * The seam between the model and the arithmetic. The forward pass calls only these ops; `ref` is
 * the plain-TypeScript oracle, faster backends (WASM SIMD, later WebGPU) must agree with it
 * (see test/kernels/backend.case.ts).
 *
 * Conventions: tensors are row-major and the last dimension is contiguous (GGUF's ne0), so a
 * weight matrix (outDim, inDim) stores one output row per `inDim` elements. Activations are f32.
 * Ops take `n`, the number of leading rows (tokens) to process; a tensor may hold more rows.
 */
import type { DType } from '../tensor/index.ts'

export interface Tensor {
  readonly dtype: DType
  readonly shape: readonly number[]
}

/** How RoPE pairs dimensions: adjacent (x[2i], x[2i+1]) as GGUF llama and llama2.c do, or halves
 * (x[i], x[i + ropeDim/2]) as Hugging Face checkpoints and GGUF qwen2 do. */
export type RopeStyle = 'interleaved' | 'neox'

export interface RopeParams {
  readonly nHeads: number
  readonly headDim: number
  /** leading dimensions of each head that rotate (= headDim for the Llama family) */
  readonly ropeDim: number
  readonly theta: number
  readonly style: RopeStyle
  /** per pair k < ropeDim / 2, a factor its frequency is divided by (Llama 3.x scaling); absent: 1 */
  readonly freqFactors?: readonly number[]
}

export interface AttentionParams {
  readonly nHeads: number
  readonly nKvHeads: number
  readonly headDim: number
}

export interface Backend {
  readonly name: string
  /** Weight dtypes `matmul` and `getRows` accept; loaders convert anything else to f32. */
  readonly weightTypes: readonly DType[]

  /** A tensor holding these raw little-endian bytes; the backend may keep `bytes` without copying. */
  fromBytes (dtype: DType, shape: readonly number[], bytes: Uint8Array): Tensor
  /**
   * Optional: a tensor filled from its raw bytes in pieces, so loading needs no buffer of the whole
   * tensor. `read(dst)` fills dst with the next dst.length bytes. Loaders use it when present.
   */
  fromStream? (dtype: DType, shape: readonly number[], read: (dst: Uint8Array) => Promise<void>): Promise<Tensor>
  /** A zero-filled f32 tensor (activations, KV cache). */
  zeros (shape: readonly number[]): Tensor
  /** Writes f32 values into an f32 tensor starting at element `offset`. */
  write (t: Tensor, src: Float32Array, offset?: number): void
  /** Copies `length` f32 values out of an f32 tensor, from element `offset`. */
  read (t: Tensor, offset?: number, length?: number): Float32Array
  /**
   * The same as `read`, for backends whose memory the CPU cannot see at once (a GPU's): resolves
   * when the ops recorded before it have run. CPU backends answer at once.
   */
  readAsync (t: Tensor, offset?: number, length?: number): Promise<Float32Array>
  free (t: Tensor): void
  /** Bytes held by live tensors. */
  allocatedBytes (): number
  /** Releases threads and memory; the backend is unusable afterwards. */
  dispose (): void

  /** out[i] = w · x[i] for i < n.  out (n, outDim), x (n, inDim), w (outDim, inDim) of any weight type */
  matmul (out: Tensor, x: Tensor, w: Tensor, n: number): void
  /** x[i] += b.  x (n, dim), b (dim) */
  addBias (x: Tensor, b: Tensor, n: number): void
  /** x[i] += y[i].  x, y (n, dim) */
  add (x: Tensor, y: Tensor, n: number): void
  /**
   * out[i] = x[i] / sqrt(mean(x[i]²) + eps) * weight.  out, x (n, dim), weight (dim). The tensors'
   * rows may hold several rows of dim (per-head norms: n = tokens · heads rows of headDim).
   */
  rmsnorm (out: Tensor, x: Tensor, weight: Tensor, n: number, eps: number): void
  /** Rotates x in place; row i is at position positions[i].  x (n, nHeads * headDim) */
  rope (x: Tensor, n: number, positions: Int32Array, p: RopeParams): void
  /**
   * Causal grouped-query attention over the cache: query row i sits at position pos0 + i and sees
   * cache rows [0, pos0 + i].  out, q (n, nHeads * headDim), kCache, vCache (maxLen, nKvHeads * headDim)
   */
  attention (out: Tensor, q: Tensor, kCache: Tensor, vCache: Tensor, n: number, pos0: number, p: AttentionParams): void
  /** dst rows [dstRow, dstRow + n) = src rows [srcRow, srcRow + n).  Same row length; srcRow defaults to 0. */
  copyRows (dst: Tensor, dstRow: number, src: Tensor, n: number, srcRow?: number): void
  /** gate[i] = silu(gate[i]) * up[i].  gate, up (n, hiddenDim) */
  siluMul (gate: Tensor, up: Tensor, n: number): void
  /** out[i] = table[ids[i]] as f32.  out (ids.length, dim), table (rows, dim) of any weight type */
  getRows (out: Tensor, table: Tensor, ids: Int32Array): void
}

/** Elements per row (the last dimension). */
export function rowLength (t: Tensor): number {
  return t.shape[t.shape.length - 1] ?? 1
}

/** Number of rows (product of all dimensions but the last). */
export function rowCount (t: Tensor): number {
  let n = 1
  for (let i = 0; i < t.shape.length - 1; i++) n *= t.shape[i]!
  return n
}

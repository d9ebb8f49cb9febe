/**
 * The WebAssembly SIMD backend: weights and activations live in one (shared) WebAssembly.Memory,
 * kernels are AssemblyScript compiled to SIMD128 (assembly/), and products are split across a
 * ThreadPool. No Node API here, so a browser host can construct it too (see node.ts for Node's).
 */
import { type DType, DTYPES, byteSize, isQuantized } from '../../tensor/index.ts'
import { BadModelFileError, ShapeMismatchError, UnsupportedTensorTypeError } from '../../util/errors.ts'
import type { AttentionParams, Backend, RopeParams, Tensor } from '../backend.ts'
import { rowCount, rowLength } from '../backend.ts'
import { Heap } from './heap.ts'
import { type KernelName, ThreadPool } from './pool.ts'

/** The kernel exports (assembly/index.ts); pointers are byte offsets into the memory. */
interface Kernels {
  matmulF32 (out: number, x: number, w: number, n: number, inDim: number, outDim: number, r0: number, r1: number): void
  matmul16 (kind: number, out: number, x: number, w: number, n: number, inDim: number, outDim: number, scratch: number, r0: number, r1: number, tid: number): void
  matmul16ScratchBytes (inDim: number): number
  f16Finite (p: number, n: number): number
  getRows16 (kind: number, out: number, table: number, ids: number, n: number, dim: number): void
  quantizeActivations (xq: number, xd: number, xs: number, x: number, n: number, inDim: number, layout: number, group: number): void
  packPlanes (w: number, src: number, kind: number, blocks: number, first: number, count: number): void
  mvQ (kind: number, out: number, xq: number, xd: number, xs: number, w: number, n: number, inDim: number, outDim: number, layout: number, r0: number, r1: number): void
  gemmQ (kind: number, out: number, xq: number, xd: number, xs: number, w: number, n: number, inDim: number, outDim: number, scratch: number, r0: number, r1: number, tid: number): void
  gemmScratchBytes (inDim: number): number
  getRowsQ (kind: number, out: number, table: number, rows: number, ids: number, n: number, dim: number): void
  relaxedDot (): number
  rmsnorm (out: number, x: number, weight: number, n: number, dim: number, eps: number): void
  rope (x: number, n: number, nHeads: number, headDim: number, ropeDim: number, table: number, style: number): void
  attention (out: number, q: number, kc: number, vc: number, n: number, pos0: number, nHeads: number, nKvHeads: number,
    headDim: number, scratch: number, h0: number, h1: number, tid: number): void
  siluMul (gate: number, up: number, len: number): void
  add (x: number, y: number, len: number): void
  addBias (x: number, b: number, n: number, dim: number): void
}

/** Where a quantized tensor's f16 scales (BLOCK_SCALES) lie once in planes (assembly/planes.ts): byte offset and count, for `blocks` blocks. */
const SCALE_PLANES: Partial<Record<DType, (blocks: number) => [number, number]>> = {
  q8_0: b => [0, b], q4_0: b => [0, b], q5_0: b => [0, b], q5_1: b => [0, 2 * b],
  q4_k: b => [0, 2 * b], q5_k: b => [0, 2 * b], q6_k: b => [b * (128 + 64 + 16), b]
}

/** Activation layouts (assembly/act.ts). */
const ACT_I16 = 0
const ACT_I8 = 1
/**
 * Tokens from which quantized products run as a GEMM over unpacked tiles (assembly/gemm-q.ts)
 * rather than as that many decode products: where the GEMM starts to win, per format, measured
 * per token (bench/gemm.ts, 1 thread, 1536 x 512; GEMM / decode us): Q8_0 at 10 tokens 94 / 96
 * (at 8: 97 / 97), Q4_0 100 / 104, Q4_K 136 / 139 (at 8: 149 / 139); the formats whose decode
 * kernels are slowest win from 4: Q5_0 153 / 164, Q5_1 176 / 185, Q5_K 217 / 219, Q6_K 198 / 217.
 */
const GEMM_FROM: Partial<Record<DType, number>> = { q8_0: 10, q4_0: 10, q4_k: 10, q5_0: 4, q5_1: 4, q5_k: 4, q6_k: 4 }

/** Tokens from which a product with `dtype` weights runs as the GEMM by default. */
export function defaultGemmFrom (dtype: DType): number {
  return GEMM_FROM[dtype] ?? 4
}

/** Bytes kernels may read past a quantized tensor's end (16-byte loads of 12-byte fields). */
const SLACK = 16

/** Multiply-adds below which a product runs on the calling thread alone (waking a worker costs more). */
const PARALLEL_MIN_WORK = 1 << 18
/** Bytes copied or repacked per step while loading. */
const PACK_CHUNK = 1 << 20

class WasmTensor implements Tensor {
  freed = false
  constructor (readonly dtype: DType, readonly shape: readonly number[], readonly ptr: number, readonly byteLength: number, readonly owner: WasmBackend) {}
}

/**
 * Whether a kernels module's relaxed-SIMD dot product gives the standard's results on this engine
 * (assembly/index.ts relaxedDot: 0 in baseline builds and on engines that compute it otherwise).
 */
export function relaxedDotWorks (module: WebAssembly.Module): boolean {
  const memory = new WebAssembly.Memory({ initial: 1, maximum: 1, shared: true })
  const k = new WebAssembly.Instance(module, { env: { memory } }).exports as { relaxedDot: () => number }
  return k.relaxedDot() === 1
}

export interface WasmBackendOptions {
  module: WebAssembly.Module
  memory: WebAssembly.Memory
  /** splits products across threads; absent: single-threaded */
  pool?: ThreadPool
}

export class WasmBackend implements Backend {
  readonly name = 'wasm'
  readonly weightTypes: readonly DType[] = ['f32', 'f16', 'bf16', 'q8_0', 'q4_0', 'q5_0', 'q5_1', 'q4_k', 'q5_k', 'q6_k']
  private readonly k: Kernels
  private readonly memory: WebAssembly.Memory
  private readonly heap: Heap
  private readonly pool: ThreadPool | undefined
  /** this build's quantized kernels take ACT_I8 activations (relaxed-SIMD dot products) */
  readonly relaxedDot: boolean
  /** tokens from which quantized products run as a GEMM; undefined: the measured defaults per format (bench/gemm.ts sets it) */
  gemmFrom: number | undefined
  private scratchPtr = 0
  private scratchBytes = 0
  private ropeKey = ''
  private ropeTable = new Float32Array(0) // (n, ropeDim / 2, 2) cos, sin

  constructor (options: WasmBackendOptions) {
    this.memory = options.memory
    this.k = new WebAssembly.Instance(options.module, { env: { memory: options.memory } }).exports as unknown as Kernels
    this.heap = new Heap(options.memory)
    this.pool = options.pool
    this.relaxedDot = this.k.relaxedDot() === 1
  }

  /** Threads taking part in products (1 without a pool). */
  get threads (): number {
    return this.pool?.threads ?? 1
  }

  // Views are made per use: growing the memory replaces its buffer.
  private u8 (): Uint8Array { return new Uint8Array(this.memory.buffer) }
  private f32 (ptr: number, length: number): Float32Array { return new Float32Array(this.memory.buffer, ptr, length) }

  private own (t: Tensor, dtype?: DType): WasmTensor {
    if (!(t instanceof WasmTensor) || t.owner !== this) throw new TypeError('tensor does not belong to this wasm backend')
    if (t.freed) throw new TypeError('tensor was freed')
    if (dtype !== undefined && t.dtype !== dtype) throw new TypeError(`expected a ${dtype} tensor, got ${t.dtype}`)
    return t
  }

  private alloc (dtype: DType, shape: readonly number[]): WasmTensor {
    const bytes = byteSize(dtype, shape)
    return new WasmTensor(dtype, [...shape], this.heap.alloc(bytes + (isQuantized(dtype) ? SLACK : 0)), bytes, this)
  }

  /** A scratch area of at least `bytes`, valid until the next call. */
  private scratch (bytes: number): number {
    if (bytes > this.scratchBytes) {
      if (this.scratchBytes > 0) this.heap.release(this.scratchPtr, this.scratchBytes)
      this.scratchBytes = Math.max(bytes, this.scratchBytes * 2)
      this.scratchPtr = this.heap.alloc(this.scratchBytes)
    }
    return this.scratchPtr
  }

  fromBytes (dtype: DType, shape: readonly number[], bytes: Uint8Array): Tensor {
    const expected = byteSize(dtype, shape)
    if (bytes.byteLength !== expected) {
      throw new ShapeMismatchError(`${dtype} tensor of shape [${shape.join(', ')}] needs ${expected} bytes, got ${bytes.byteLength}`)
    }
    const t = this.allocWeight(dtype, shape)
    if (!isQuantized(dtype)) {
      this.u8().set(bytes, t.ptr)
      return this.finished(t)
    }
    const { rowBytes, step } = this.packing(t)
    for (let r = 0; r < rowCount(t); r += step) {
      const m = Math.min(step, rowCount(t) - r)
      const staging = this.scratch(m * rowBytes)
      this.u8().set(bytes.subarray(r * rowBytes, (r + m) * rowBytes), staging)
      this.packRows(t, r, m, staging)
    }
    return this.checkScales(t)
  }

  async fromStream (dtype: DType, shape: readonly number[], read: (dst: Uint8Array) => Promise<void>): Promise<Tensor> {
    const t = this.allocWeight(dtype, shape)
    try {
      if (!isQuantized(dtype)) {
        for (let off = 0; off < t.byteLength; off += PACK_CHUNK) await read(new Uint8Array(this.memory.buffer, t.ptr + off, Math.min(PACK_CHUNK, t.byteLength - off)))
        return this.finished(t)
      }
      // a staging block of its own, not the scratch area: other ops may run while a read is pending
      const { rowBytes, step } = this.packing(t)
      const staging = this.heap.alloc(step * rowBytes)
      try {
        for (let r = 0; r < rowCount(t); r += step) {
          const m = Math.min(step, rowCount(t) - r)
          await read(new Uint8Array(this.memory.buffer, staging, m * rowBytes))
          this.packRows(t, r, m, staging)
        }
      } finally {
        this.heap.release(staging, step * rowBytes)
      }
      return this.checkScales(t)
    } catch (err) {
      this.free(t)
      throw err
    }
  }

  private allocWeight (dtype: DType, shape: readonly number[]): WasmTensor {
    if (!this.weightTypes.includes(dtype)) throw new UnsupportedTensorTypeError(`the wasm backend does not store ${dtype} tensors`)
    return this.alloc(dtype, shape)
  }

  /**
   * An f16 tensor with infinities or NaNs becomes an f32 one: the f16 kernels widen finite values
   * only (assembly/matmul-f16.ts). Other tensors are returned as they are.
   */
  private finished (t: WasmTensor): WasmTensor {
    if (t.dtype !== 'f16' || this.k.f16Finite(t.ptr, t.byteLength / 2) === 1) return t
    const f = this.alloc('f32', t.shape)
    const n = t.byteLength / 2
    const ids = this.scratch(4)
    new Int32Array(this.memory.buffer, ids, 1)[0] = 0
    this.k.getRows16(DTYPES.f16.ggmlType, f.ptr, t.ptr, ids, 1, n) // the whole tensor as one row
    this.free(t)
    return f
  }

  /**
   * Refuses a quantized tensor with an infinite or NaN block scale (as llama.cpp's
   * ggml_validate_row_data does): the kernels widen scales assuming finite values.
   */
  private checkScales (t: WasmTensor): WasmTensor {
    const blocks = (t.byteLength / DTYPES[t.dtype].blockBytes)
    const [offset, halves] = SCALE_PLANES[t.dtype]!(blocks)
    if (this.k.f16Finite(t.ptr + offset, halves) === 1) return t
    this.free(t)
    throw new BadModelFileError(`a ${t.dtype} tensor of shape [${t.shape.join(', ')}] has infinite or NaN block scales`)
  }

  /** Bytes per row of a quantized tensor as stored in GGUF, and rows repacked per step (quantized tensors only). */
  private packing (t: WasmTensor): { rowBytes: number, step: number } {
    const { blockSize, blockBytes } = DTYPES[t.dtype]
    const rowBytes = (rowLength(t) / blockSize) * blockBytes
    return { rowBytes, step: Math.max(1, Math.floor(PACK_CHUNK / rowBytes)) }
  }

  /** Rows [r, r + m) of GGUF blocks at `staging` into t's planes (assembly/planes.ts). */
  private packRows (t: WasmTensor, r: number, m: number, staging: number): void {
    const nb = rowLength(t) / DTYPES[t.dtype].blockSize
    this.k.packPlanes(t.ptr, staging, DTYPES[t.dtype].ggmlType, rowCount(t) * nb, r * nb, m * nb)
  }

  zeros (shape: readonly number[]): Tensor {
    const bytes = byteSize('f32', shape)
    return new WasmTensor('f32', [...shape], this.heap.allocZeroed(bytes), bytes, this)
  }

  write (t: Tensor, src: Float32Array, offset = 0): void {
    const w = this.own(t, 'f32')
    if (offset < 0 || offset + src.length > w.byteLength / 4) throw new ShapeMismatchError(`writing ${src.length} values at ${offset} overflows a tensor of ${w.byteLength / 4}`)
    this.f32(w.ptr, w.byteLength / 4).set(src, offset)
  }

  read (t: Tensor, offset = 0, length?: number): Float32Array {
    const w = this.own(t, 'f32')
    const n = length ?? w.byteLength / 4 - offset
    if (offset < 0 || n < 0 || offset + n > w.byteLength / 4) throw new ShapeMismatchError(`reading ${n} values at ${offset} overflows a tensor of ${w.byteLength / 4}`)
    return this.f32(w.ptr + offset * 4, n).slice()
  }

  async readAsync (t: Tensor, offset?: number, length?: number): Promise<Float32Array> {
    return this.read(t, offset, length)
  }

  free (t: Tensor): void {
    const w = this.own(t)
    w.freed = true
    this.heap.release(w.ptr, w.byteLength + (isQuantized(w.dtype) ? SLACK : 0))
  }

  allocatedBytes (): number {
    return this.heap.usedBytes - this.scratchBytes
  }

  dispose (): void {
    this.pool?.dispose()
  }

  /** Runs a splittable kernel over [0, total) on the pool, or here when the work is small. */
  private split (fn: KernelName, args: number[], total: number, work: number, align: number): void {
    const kernel = this.k[fn] as (...a: number[]) => void
    if (this.pool === undefined || work < PARALLEL_MIN_WORK || total < 2 * align) {
      kernel(...args, 0, total, 0)
      return
    }
    this.pool.run(fn, args, total, align, (start, end, tid) => kernel(...args, start, end, tid))
  }

  private rows (t: WasmTensor, n: number, cols: number, what: string): void {
    if (rowLength(t) !== cols || n > rowCount(t) || n < 0) {
      throw new ShapeMismatchError(`${what}: [${t.shape.join(', ')}] cannot hold ${n} rows of ${cols}`)
    }
  }

  matmul (out: Tensor, x: Tensor, w: Tensor, n: number): void {
    const o = this.own(out, 'f32')
    const xs = this.own(x, 'f32')
    const wt = this.own(w)
    const [outDim, inDim] = wt.shape as [number, number]
    this.rows(xs, n, inDim, 'matmul input')
    this.rows(o, n, outDim, 'matmul output')
    const work = n * outDim * inDim
    const kind = DTYPES[wt.dtype].ggmlType
    if (wt.dtype === 'f32') {
      this.split('matmulF32', [o.ptr, xs.ptr, wt.ptr, n, inDim, outDim], outDim, work, 16)
      return
    }
    if (wt.dtype === 'f16' || wt.dtype === 'bf16') {
      const scratch = n < 4 ? 0 : this.scratch(this.k.matmul16ScratchBytes(inDim) * this.threads)
      this.split('matmul16', [kind, o.ptr, xs.ptr, wt.ptr, n, inDim, outDim, scratch], outDim, work, 16)
      return
    }
    if (!isQuantized(wt.dtype)) throw new UnsupportedTensorTypeError(`wasm matmul does not take ${wt.dtype} weights`)
    // activations quantized with a scale per 32 (per 256 for K-quants; assembly/act.ts): xq (n, inDim) int16 or int8, xd (n, nb)
    // f32 scales, xs (n, nb, 2) int32 half-block sums; then the GEMM's tiles (per thread) for many tokens
    const gemm = n >= (this.gemmFrom ?? defaultGemmFrom(wt.dtype))
    const layout = !gemm && this.relaxedDot && wt.dtype !== 'q8_0' ? ACT_I8 : ACT_I16
    const nb = inDim / 32
    const xqBytes = align64(n * inDim * (layout === ACT_I8 ? 1 : 2))
    const xdBytes = align64(n * nb * 4)
    const tileBytes = gemm ? this.k.gemmScratchBytes(inDim) * this.threads : 0
    const xq = this.scratch(xqBytes + 3 * xdBytes + tileBytes)
    const xd = xq + xqBytes
    const xsum = xd + xdBytes
    this.k.quantizeActivations(xq, xd, xsum, xs.ptr, n, inDim, layout, DTYPES[wt.dtype].blockSize)
    if (gemm) this.split('gemmQ', [kind, o.ptr, xq, xd, xsum, wt.ptr, n, inDim, outDim, xsum + 2 * xdBytes], outDim, work, 16)
    else this.split('mvQ', [kind, o.ptr, xq, xd, xsum, wt.ptr, n, inDim, outDim, layout], outDim, work, 16)
  }

  addBias (x: Tensor, b: Tensor, n: number): void {
    const xs = this.own(x, 'f32')
    const bs = this.own(b, 'f32')
    const dim = rowLength(bs)
    this.rows(xs, n, dim, 'addBias')
    this.k.addBias(xs.ptr, bs.ptr, n, dim)
  }

  add (x: Tensor, y: Tensor, n: number): void {
    const xs = this.own(x, 'f32')
    const ys = this.own(y, 'f32')
    this.rows(xs, n, rowLength(ys), 'add')
    this.rows(ys, n, rowLength(xs), 'add')
    this.k.add(xs.ptr, ys.ptr, n * rowLength(xs))
  }

  rmsnorm (out: Tensor, x: Tensor, weight: Tensor, n: number, eps: number): void {
    const o = this.own(out, 'f32')
    const xs = this.own(x, 'f32')
    const ws = this.own(weight, 'f32')
    const dim = rowLength(ws)
    for (const [t, what] of [[xs, 'rmsnorm input'], [o, 'rmsnorm output']] as const) {
      if (rowLength(t) % dim !== 0 || n < 0 || n * dim > t.byteLength / 4) throw new ShapeMismatchError(`${what}: [${t.shape.join(', ')}] cannot hold ${n} rows of ${dim}`)
    }
    this.k.rmsnorm(o.ptr, xs.ptr, ws.ptr, n, dim, eps)
  }

  rope (x: Tensor, n: number, positions: Int32Array, p: RopeParams): void {
    const xs = this.own(x, 'f32')
    const { nHeads, headDim, ropeDim, theta, style, freqFactors } = p
    this.rows(xs, n, nHeads * headDim, 'rope')
    if (positions.length < n) throw new ShapeMismatchError(`rope: ${n} rows but ${positions.length} positions`)
    const table = this.ropeCosSin(positions.subarray(0, n), ropeDim, theta, freqFactors)
    const ptr = this.scratch(table.byteLength)
    this.f32(ptr, table.length).set(table)
    this.k.rope(xs.ptr, n, nHeads, headDim, ropeDim, ptr, style === 'interleaved' ? 0 : 1)
  }

  /** cos and sin of each position's angle per pair, in f64 as ref computes them; cached (q and k and every layer share it). */
  private ropeCosSin (positions: Int32Array, ropeDim: number, theta: number, factors: readonly number[] | undefined): Float32Array {
    const key = `${ropeDim}|${theta}|${factors?.join(',') ?? ''}|${positions.join(',')}`
    if (key !== this.ropeKey) {
      const half = ropeDim / 2
      const table = new Float32Array(positions.length * ropeDim) // (n, half, 2)
      positions.forEach((pos, i) => {
        for (let k = 0; k < half; k++) {
          const angle = pos * theta ** (-(2 * k) / ropeDim) / (factors?.[k] ?? 1)
          table[(i * half + k) * 2] = Math.cos(angle)
          table[(i * half + k) * 2 + 1] = Math.sin(angle)
        }
      })
      this.ropeKey = key
      this.ropeTable = table
    }
    return this.ropeTable
  }

  attention (out: Tensor, q: Tensor, kCache: Tensor, vCache: Tensor, n: number, pos0: number, p: AttentionParams): void {
    const o = this.own(out, 'f32')
    const qs = this.own(q, 'f32')
    const kc = this.own(kCache, 'f32')
    const vc = this.own(vCache, 'f32')
    const { nHeads, nKvHeads, headDim } = p
    if (nHeads % nKvHeads !== 0) throw new ShapeMismatchError(`attention: ${nHeads} heads cannot be grouped over ${nKvHeads} kv heads`)
    this.rows(qs, n, nHeads * headDim, 'attention query')
    this.rows(o, n, nHeads * headDim, 'attention output')
    this.rows(kc, pos0 + n, nKvHeads * headDim, 'attention keys')
    this.rows(vc, pos0 + n, nKvHeads * headDim, 'attention values')
    const scratch = this.scratch(Math.ceil((pos0 + n) / 16) * 64 * this.threads) // scores per thread
    const work = n * (pos0 + n) * nHeads * headDim * 2
    this.split('attention', [o.ptr, qs.ptr, kc.ptr, vc.ptr, n, pos0, nHeads, nKvHeads, headDim, scratch], nHeads, work, 1)
  }

  copyRows (dst: Tensor, dstRow: number, src: Tensor, n: number, srcRow = 0): void {
    const d = this.own(dst, 'f32')
    const s = this.own(src, 'f32')
    const len = rowLength(s)
    this.rows(s, srcRow + n, len, 'copyRows source')
    this.rows(d, dstRow + n, len, 'copyRows destination')
    const from = s.ptr + srcRow * len * 4
    this.u8().copyWithin(d.ptr + dstRow * len * 4, from, from + n * len * 4)
  }

  siluMul (gate: Tensor, up: Tensor, n: number): void {
    const g = this.own(gate, 'f32')
    const u = this.own(up, 'f32')
    const len = rowLength(g)
    this.rows(g, n, len, 'siluMul gate')
    this.rows(u, n, len, 'siluMul up')
    this.k.siluMul(g.ptr, u.ptr, n * len)
  }

  getRows (out: Tensor, table: Tensor, ids: Int32Array): void {
    const o = this.own(out, 'f32')
    const t = this.own(table)
    const [rows, dim] = t.shape as [number, number]
    this.rows(o, ids.length, dim, 'getRows output')
    for (const id of ids) if (!(id >= 0 && id < rows)) throw new ShapeMismatchError(`getRows: row ${id} is outside a table of ${rows}`)
    if (!this.weightTypes.includes(t.dtype)) throw new UnsupportedTensorTypeError(`wasm getRows does not take ${t.dtype} tables`)
    if (t.dtype === 'f32') {
      const u8 = this.u8()
      ids.forEach((id, i) => u8.copyWithin(o.ptr + i * dim * 4, t.ptr + id * dim * 4, t.ptr + (id + 1) * dim * 4))
      return
    }
    const ptr = this.scratch(ids.byteLength)
    new Int32Array(this.memory.buffer, ptr, ids.length).set(ids)
    const kind = DTYPES[t.dtype].ggmlType
    if (t.dtype === 'f16' || t.dtype === 'bf16') this.k.getRows16(kind, o.ptr, t.ptr, ptr, ids.length, dim)
    else this.k.getRowsQ(kind, o.ptr, t.ptr, rows, ptr, ids.length, dim)
  }
}

function align64 (n: number): number {
  return Math.ceil(n / 64) * 64
}

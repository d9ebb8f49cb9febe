/// <reference types="@webgpu/types" />
/**
 * The webgpu backend: every tensor is a GPU storage buffer, every op a compute dispatch. Ops are
 * recorded into one command encoder and submitted together when the CPU next needs the queue
 * (a write, a read, new weights), so the activations of a span stay on the GPU between ops and a
 * step costs one submit and one read-back.
 *
 * Reads are asynchronous on a GPU: `readAsync` is the way out; `read` refuses.
 */
import { type DType, byteSize, finiteScales } from '../../tensor/index.ts'
import { BadModelFileError, InvalidArgumentError, ShapeMismatchError } from '../../util/errors.ts'
import { type AttentionParams, type Backend, type RopeParams, type Tensor, rowCount, rowLength } from '../backend.ts'
import { ATTENTION_SCORES, ATTENTION_SOFTMAX, ATTENTION_VALUES, RMSNORM, ROPE, WEBGPU_WEIGHT_TYPES, WORKGROUP, elementwiseShader, getRowsShader, matmulShader } from './shaders.ts'

/** Workgroups per dispatch dimension (WebGPU's guaranteed minimum limit). */
const MAX_GROUPS = 65535

class GpuTensor implements Tensor {
  freed = false
  constructor (readonly dtype: DType, readonly shape: readonly number[], readonly buffer: GPUBuffer, readonly bytes: number, readonly owner: WebGpuBackend) {}
}

/** The bits of an f32, for uniform blocks of mixed u32 and f32 fields. */
function f32Bits (v: number): number {
  return new Uint32Array(Float32Array.of(v).buffer)[0]!
}

export class WebGpuBackend implements Backend {
  readonly name = 'webgpu'
  readonly weightTypes: readonly DType[] = WEBGPU_WEIGHT_TYPES
  private readonly pipelines = new Map<string, GPUComputePipeline>()
  private encoder: GPUCommandEncoder | undefined
  /** buffers to destroy once the commands that use them are submitted */
  private garbage: GPUBuffer[] = []
  private live = 0

  /** adapterName: the adapter's vendor and architecture, for logs and benchmarks */
  constructor (readonly device: GPUDevice, readonly adapterName = 'webgpu') {}

  private own (t: Tensor, dtype?: DType): GpuTensor {
    if (!(t instanceof GpuTensor) || t.owner !== this) throw new TypeError('tensor does not belong to this webgpu backend')
    if (t.freed) throw new TypeError('tensor was freed')
    if (dtype !== undefined && t.dtype !== dtype) throw new TypeError(`expected a ${dtype} tensor, got ${t.dtype}`)
    return t
  }

  private alloc (dtype: DType, shape: readonly number[]): GpuTensor {
    const bytes = byteSize(dtype, shape)
    const buffer = this.device.createBuffer({ size: Math.max(4, Math.ceil(bytes / 4) * 4), usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST })
    this.live += bytes
    return new GpuTensor(dtype, [...shape], buffer, bytes, this)
  }

  fromBytes (dtype: DType, shape: readonly number[], bytes: Uint8Array): Tensor {
    if (!this.weightTypes.includes(dtype)) throw new InvalidArgumentError(`the webgpu backend does not take ${dtype} tensors (it takes ${this.weightTypes.join(', ')})`)
    const expected = byteSize(dtype, shape)
    if (bytes.byteLength !== expected) throw new ShapeMismatchError(`${dtype} tensor of shape [${shape.join(', ')}] needs ${expected} bytes, got ${bytes.byteLength}`)
    if (!finiteScales(dtype, bytes)) throw new BadModelFileError(`a ${dtype} tensor of shape [${shape.join(', ')}] has infinite or NaN block scales`)
    const t = this.alloc(dtype, shape)
    this.upload(t.buffer, 0, bytes)
    return t
  }

  zeros (shape: readonly number[]): Tensor {
    return this.alloc('f32', shape) // WebGPU buffers start zeroed
  }

  write (t: Tensor, src: Float32Array, offset = 0): void {
    const g = this.own(t, 'f32')
    if ((offset + src.length) * 4 > g.bytes) throw new ShapeMismatchError(`write of ${src.length} values at ${offset} overruns [${g.shape.join(', ')}]`)
    this.upload(g.buffer, offset * 4, new Uint8Array(src.buffer, src.byteOffset, src.byteLength))
  }

  /** Queue writes run before commands submitted after them: submit what was recorded first. */
  private upload (buffer: GPUBuffer, at: number, bytes: Uint8Array): void {
    this.flush()
    const padded = bytes.byteLength % 4 === 0 ? bytes : (() => { const p = new Uint8Array(Math.ceil(bytes.byteLength / 4) * 4); p.set(bytes); return p })()
    // writeBuffer takes views of ArrayBuffers: a view of shared memory is copied first
    const data = padded.buffer instanceof ArrayBuffer ? padded as Uint8Array<ArrayBuffer> : padded.slice()
    if (data.byteLength > 0) this.device.queue.writeBuffer(buffer, at, data)
  }

  read (_t?: Tensor, _offset?: number, _length?: number): Float32Array {
    throw new InvalidArgumentError('the webgpu backend reads asynchronously: use readAsync')
  }

  async readAsync (t: Tensor, offset = 0, length?: number): Promise<Float32Array> {
    const g = this.own(t, 'f32')
    const n = length ?? g.bytes / 4 - offset
    if (offset < 0 || n < 0 || offset + n > g.bytes / 4) throw new ShapeMismatchError(`reading ${n} values at ${offset} overflows a tensor of ${g.bytes / 4}`)
    if (n === 0) return new Float32Array(0)
    const staging = this.device.createBuffer({ size: n * 4, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST })
    this.commands().copyBufferToBuffer(g.buffer, offset * 4, staging, 0, n * 4)
    this.flush()
    try {
      await staging.mapAsync(GPUMapMode.READ)
      return new Float32Array(staging.getMappedRange().slice(0))
    } finally {
      staging.destroy()
    }
  }

  free (t: Tensor): void {
    const g = this.own(t)
    g.freed = true
    this.live -= g.bytes
    if (this.encoder === undefined) g.buffer.destroy()
    else this.garbage.push(g.buffer)
  }

  allocatedBytes (): number {
    return this.live
  }

  dispose (): void {
    this.flush()
    this.device.destroy()
  }

  /** Submits the recorded commands; buffers freed meanwhile are destroyed after. */
  flush (): void {
    if (this.encoder !== undefined) {
      this.device.queue.submit([this.encoder.finish()])
      this.encoder = undefined
    }
    for (const b of this.garbage) b.destroy()
    this.garbage = []
  }

  private commands (): GPUCommandEncoder {
    this.encoder ??= this.device.createCommandEncoder()
    return this.encoder
  }

  private pipeline (key: string, wgsl: () => string): GPUComputePipeline {
    let p = this.pipelines.get(key)
    if (p === undefined) {
      p = this.device.createComputePipeline({ layout: 'auto', compute: { module: this.device.createShaderModule({ code: wgsl() }), entryPoint: 'main' } })
      this.pipelines.set(key, p)
    }
    return p
  }

  /** A temporary buffer holding `data` (destroyed after the next submit). */
  private temp (data: ArrayBufferView, usage: number): GPUBuffer {
    const size = Math.max(16, Math.ceil(data.byteLength / 16) * 16)
    const b = this.device.createBuffer({ size, usage, mappedAtCreation: true })
    new Uint8Array(b.getMappedRange()).set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength))
    b.unmap()
    this.garbage.push(b)
    return b
  }

  /**
   * Records one dispatch: `params` (u32 words) at binding 0, `reads` next, `write` last. A read that
   * is the written buffer (an op in place) is bound as a copy, since WebGPU forbids the alias.
   */
  private dispatch (key: string, wgsl: () => string, params: readonly number[], reads: readonly GPUBuffer[], write: GPUBuffer, groups: [number, number]): void {
    const words = new Uint32Array(Math.ceil(params.length / 4) * 4)
    words.set(params)
    const uniform = this.temp(words, GPUBufferUsage.UNIFORM)
    const enc = this.commands()
    const bound = reads.map(b => {
      if (b !== write) return b
      const copy = this.device.createBuffer({ size: b.size, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST })
      enc.copyBufferToBuffer(b, 0, copy, 0, b.size)
      this.garbage.push(copy)
      return copy
    })
    const pipeline = this.pipeline(key, wgsl)
    const group = this.device.createBindGroup({
      layout: pipeline.getBindGroupLayout(0),
      entries: [uniform, ...bound, write].map((buffer, binding) => ({ binding, resource: { buffer } }))
    })
    const pass = enc.beginComputePass()
    pass.setPipeline(pipeline)
    pass.setBindGroup(0, group)
    pass.dispatchWorkgroups(groups[0], groups[1])
    pass.end()
  }

  /** Workgroups for a flat job of `count` invocations. */
  private flat (count: number): [number, number] {
    const groups = Math.max(1, Math.ceil(count / WORKGROUP))
    return groups <= MAX_GROUPS ? [groups, 1] : [MAX_GROUPS, Math.ceil(groups / MAX_GROUPS)]
  }

  matmul (out: Tensor, x: Tensor, w: Tensor, n: number): void {
    const [o, xs, ws] = [this.own(out, 'f32'), this.own(x, 'f32'), this.own(w)]
    const [outDim, inDim] = ws.shape as [number, number]
    if (n === 0) return
    if (n > MAX_GROUPS || n * inDim > rowCount(xs) * rowLength(xs) || n * outDim > rowCount(o) * rowLength(o)) throw new ShapeMismatchError(`matmul: ${n} rows of [${outDim}, ${inDim}] do not fit x [${xs.shape.join(', ')}] or out [${o.shape.join(', ')}]`)
    this.dispatch(`matmul:${ws.dtype}`, () => matmulShader(ws.dtype), [n, outDim, inDim], [xs.buffer, ws.buffer], o.buffer, [Math.min(outDim, MAX_GROUPS), n])
  }

  getRows (out: Tensor, table: Tensor, ids: Int32Array): void {
    const [o, t] = [this.own(out, 'f32'), this.own(table)]
    const [rows, dim] = t.shape as [number, number]
    for (const id of ids) if (!Number.isInteger(id) || id < 0 || id >= rows) throw new InvalidArgumentError(`getRows: row ${id} is outside the table's ${rows}`)
    if (ids.length === 0) return
    const idBuf = this.temp(ids, GPUBufferUsage.STORAGE)
    this.dispatch(`getRows:${t.dtype}`, () => getRowsShader(t.dtype), [ids.length, dim], [idBuf, t.buffer], o.buffer, this.flat(ids.length * dim))
  }

  private elementwise (op: 'add' | 'addBias' | 'siluMul', x: Tensor, y: Tensor, len: number, dim: number): void {
    if (len === 0) return
    this.dispatch(op, () => elementwiseShader(op), [len, dim], [this.own(y, 'f32').buffer], this.own(x, 'f32').buffer, this.flat(len))
  }

  add (x: Tensor, y: Tensor, n: number): void {
    this.elementwise('add', x, y, n * rowLength(x), rowLength(x))
  }

  addBias (x: Tensor, b: Tensor, n: number): void {
    this.elementwise('addBias', x, b, n * rowLength(x), rowLength(x))
  }

  siluMul (gate: Tensor, up: Tensor, n: number): void {
    this.elementwise('siluMul', gate, up, n * rowLength(gate), rowLength(gate))
  }

  rmsnorm (out: Tensor, x: Tensor, weight: Tensor, n: number, eps: number): void {
    const [o, xs, w] = [this.own(out, 'f32'), this.own(x, 'f32'), this.own(weight, 'f32')]
    const dim = rowLength(w)
    if (n * dim * 4 > xs.bytes || n * dim * 4 > o.bytes) throw new ShapeMismatchError(`rmsnorm: ${n} rows of ${dim} do not fit [${xs.shape.join(', ')}]`)
    if (n === 0) return
    this.dispatch('rmsnorm', () => RMSNORM, [n, dim, f32Bits(eps)], [xs.buffer, w.buffer], o.buffer, [Math.min(n, MAX_GROUPS), 1])
  }

  rope (x: Tensor, n: number, positions: Int32Array, p: RopeParams): void {
    const { nHeads, headDim, ropeDim, theta, style, freqFactors } = p
    const half = ropeDim / 2
    if (n === 0 || half === 0) return
    // angles in f64, as ref computes them: f32 sin and cos of large angles lose digits
    const cs = new Float32Array(n * half * 2) // (n, half, 2) cos, sin
    for (let i = 0; i < n; i++) {
      for (let k = 0; k < half; k++) {
        const angle = positions[i]! * theta ** (-(2 * k) / ropeDim) / (freqFactors?.[k] ?? 1)
        cs[(i * half + k) * 2] = Math.cos(angle)
        cs[(i * half + k) * 2 + 1] = Math.sin(angle)
      }
    }
    this.dispatch('rope', () => ROPE, [n, nHeads, headDim, half, style === 'neox' ? 1 : 0], [this.temp(cs, GPUBufferUsage.STORAGE)], this.own(x, 'f32').buffer, this.flat(n * nHeads * half))
  }

  attention (out: Tensor, q: Tensor, kCache: Tensor, vCache: Tensor, n: number, pos0: number, p: AttentionParams): void {
    const { nHeads, nKvHeads, headDim } = p
    if (n === 0) return
    const span = pos0 + n // cache rows the last query sees
    const params = [n, pos0, nHeads, nKvHeads, headDim, span, f32Bits(1 / Math.sqrt(headDim))]
    const scores = this.device.createBuffer({ size: n * nHeads * span * 4, usage: GPUBufferUsage.STORAGE }) // (n, nHeads, span)
    this.garbage.push(scores)
    this.dispatch('attention:scores', () => ATTENTION_SCORES, params, [this.own(q, 'f32').buffer, this.own(kCache, 'f32').buffer], scores, this.flat(n * nHeads * span))
    this.dispatch('attention:softmax', () => ATTENTION_SOFTMAX, params, [], scores, [Math.min(n * nHeads, MAX_GROUPS), 1])
    this.dispatch('attention:values', () => ATTENTION_VALUES, params, [scores, this.own(vCache, 'f32').buffer], this.own(out, 'f32').buffer, this.flat(n * nHeads * headDim))
  }

  copyRows (dst: Tensor, dstRow: number, src: Tensor, n: number, srcRow = 0): void {
    const [d, s] = [this.own(dst, 'f32'), this.own(src, 'f32')]
    const len = rowLength(s)
    if ((dstRow + n) * len * 4 > d.bytes || (srcRow + n) * len * 4 > s.bytes) throw new ShapeMismatchError(`copyRows: ${n} rows from ${srcRow} to ${dstRow} do not fit [${d.shape.join(', ')}]`)
    if (n > 0) this.commands().copyBufferToBuffer(s.buffer, srcRow * len * 4, d.buffer, dstRow * len * 4, n * len * 4)
  }
}

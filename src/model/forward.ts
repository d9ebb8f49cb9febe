/**
 * The forward pass of a span of transformer blocks [start, end), like llama2.c's run.c: one loop
 * over layers calling only Backend ops. Prefill (many tokens) and decode (one token) take the same
 * path; long inputs go through in chunks of at most `maxChunk` rows. `runBatch` takes the steps of
 * several sessions as one chunk: every product reads the weights once for all their rows, and
 * each session's rows attend only over its own cache.
 */
import type { Backend, Tensor } from '../kernels/index.ts'
import { InvalidArgumentError } from '../util/errors.ts'
import { type ModelConfig, kvDim } from './config.ts'
import type { KvCache } from './kv-cache.ts'
import type { LayerWeights } from './weights.ts'

/** One session's step: `hidden` (n, dim) at positions [pos0, pos0 + n), appended to `cache`. */
export interface StepInput {
  readonly cache: KvCache
  readonly hidden: Float32Array
  readonly pos0: number
}

/** A step's rows inside the chunk: rows [row0, row0 + n) of the buffers. */
interface Segment {
  readonly cache: KvCache
  readonly pos0: number
  readonly row0: number
  readonly n: number
}

export const DEFAULT_MAX_CHUNK = 64

export class SpanForward {
  readonly dim: number
  private readonly x: Tensor // (maxChunk, dim) residual stream
  private readonly xb: Tensor // (maxChunk, dim) normed input / block output
  private readonly q: Tensor // (maxChunk, nHeads * headDim)
  private readonly k: Tensor // (maxChunk, kvDim)
  private readonly v: Tensor // (maxChunk, kvDim)
  private readonly att: Tensor // (maxChunk, nHeads * headDim) attention output
  private readonly hb: Tensor // (maxChunk, hiddenDim) gate, then silu(gate) * up
  private readonly hb2: Tensor // (maxChunk, hiddenDim) up
  private readonly qs: Tensor // (maxChunk, nHeads * headDim) one segment's queries, in a batch
  private readonly atts: Tensor // (maxChunk, nHeads * headDim) one segment's attention output, in a batch
  private readonly positions: Int32Array // (maxChunk)

  constructor (
    private readonly backend: Backend,
    private readonly config: ModelConfig,
    private readonly layers: readonly LayerWeights[],
    readonly maxChunk = DEFAULT_MAX_CHUNK
  ) {
    this.dim = config.dim
    const { dim, nHeads, headDim, hiddenDim } = config
    const z = (cols: number): Tensor => backend.zeros([maxChunk, cols])
    this.x = z(dim)
    this.xb = z(dim)
    this.q = z(nHeads * headDim)
    this.k = z(kvDim(config))
    this.v = z(kvDim(config))
    this.att = z(nHeads * headDim)
    this.hb = z(hiddenDim)
    this.hb2 = z(hiddenDim)
    this.qs = z(nHeads * headDim)
    this.atts = z(nHeads * headDim)
    this.positions = new Int32Array(maxChunk)
  }

  /** Runs `hidden` (n, dim) at positions [pos0, pos0 + n) through the span, appending to `cache`. */
  async run (cache: KvCache, hidden: Float32Array, pos0: number): Promise<Float32Array> {
    const dim = this.config.dim
    const n = hidden.length / dim
    const out = new Float32Array(hidden.length) // (n, dim)
    for (let c = 0; c < n; c += this.maxChunk) {
      const rows = Math.min(this.maxChunk, n - c)
      this.backend.write(this.x, hidden.subarray(c * dim, (c + rows) * dim))
      this.chunk([{ cache, pos0: pos0 + c, row0: 0, n: rows }], rows)
      // the read is recorded before anything else can use this.x; its result may come later (a GPU)
      out.set(await this.backend.readAsync(this.x, 0, rows * dim), c * dim)
    }
    return out
  }

  /**
   * Several sessions' steps as one chunk (together at most `maxChunk` rows, each into its own
   * cache); returns each step's output hidden (n, dim), in order.
   */
  async runBatch (steps: readonly StepInput[]): Promise<Float32Array[]> {
    const dim = this.config.dim
    const segments: Segment[] = []
    let rows = 0
    for (const s of steps) {
      const n = s.hidden.length / dim
      segments.push({ cache: s.cache, pos0: s.pos0, row0: rows, n })
      rows += n
    }
    if (rows > this.maxChunk) throw new InvalidArgumentError(`a batch of ${rows} rows exceeds the chunk of ${this.maxChunk}`)
    steps.forEach((s, i) => { this.backend.write(this.x, s.hidden, segments[i]!.row0 * dim) })
    this.chunk(segments, rows)
    const out = await this.backend.readAsync(this.x, 0, rows * dim) // (rows, dim)
    return segments.map(g => out.slice(g.row0 * dim, (g.row0 + g.n) * dim))
  }

  /** The `n` rows in `this.x`, each segment's at its positions, through every layer. */
  private chunk (segments: readonly Segment[], n: number): void {
    const { backend: b, config: c, x, xb, q, k, v, att, hb, hb2 } = this
    for (const g of segments) for (let i = 0; i < g.n; i++) this.positions[g.row0 + i] = g.pos0 + i
    const rope = { nHeads: c.nHeads, headDim: c.headDim, ropeDim: c.ropeDim, theta: c.ropeTheta, style: c.ropeStyle, freqFactors: c.ropeFreqFactors }
    const ropeK = { ...rope, nHeads: c.nKvHeads }
    const attn = { nHeads: c.nHeads, nKvHeads: c.nKvHeads, headDim: c.headDim }

    this.layers.forEach((w, l) => {
      // attention: x += wo · attention(rope(wq · norm(x)), cache ∪ rope(wk · norm(x)), cache ∪ wv · norm(x))
      b.rmsnorm(xb, x, w.attnNorm, n, c.normEps)
      b.matmul(q, xb, w.wq, n)
      b.matmul(k, xb, w.wk, n)
      b.matmul(v, xb, w.wv, n)
      if (w.bq !== undefined) b.addBias(q, w.bq, n)
      if (w.bk !== undefined) b.addBias(k, w.bk, n)
      if (w.bv !== undefined) b.addBias(v, w.bv, n)
      if (w.qNorm !== undefined) b.rmsnorm(q, q, w.qNorm, n * c.nHeads, c.normEps) // per head (qwen3)
      if (w.kNorm !== undefined) b.rmsnorm(k, k, w.kNorm, n * c.nKvHeads, c.normEps)
      b.rope(q, n, this.positions, rope)
      b.rope(k, n, this.positions, ropeK)
      for (const g of segments) {
        const [kc, vc] = [g.cache.k[l]!, g.cache.v[l]!]
        b.copyRows(kc, g.pos0, k, g.n, g.row0)
        b.copyRows(vc, g.pos0, v, g.n, g.row0)
        if (segments.length === 1) {
          b.attention(att, q, kc, vc, g.n, g.pos0, attn)
        } else { // attention reads leading rows: this segment's queries go to the top of a scratch and back
          b.copyRows(this.qs, 0, q, g.n, g.row0)
          b.attention(this.atts, this.qs, kc, vc, g.n, g.pos0, attn)
          b.copyRows(att, g.row0, this.atts, g.n)
        }
      }
      b.matmul(xb, att, w.wo, n)
      b.add(x, xb, n)

      // feed-forward (SwiGLU): x += wDown · (silu(wGate · norm(x)) * (wUp · norm(x)))
      b.rmsnorm(xb, x, w.ffnNorm, n, c.normEps)
      b.matmul(hb, xb, w.wGate, n)
      b.matmul(hb2, xb, w.wUp, n)
      b.siluMul(hb, hb2, n)
      b.matmul(xb, hb, w.wDown, n)
      b.add(x, xb, n)
    })
  }

  dispose (): void {
    for (const t of [this.x, this.xb, this.q, this.k, this.v, this.att, this.hb, this.hb2, this.qs, this.atts]) this.backend.free(t)
  }
}

/**
 * The forward pass of a span of transformer blocks [start, end), like llama2.c's run.c: one loop
 * over layers calling only Backend ops. Prefill (many tokens) and decode (one token) take the same
 * path; long inputs go through in chunks of at most `maxChunk` rows.
 */
import type { Backend, Tensor } from '../kernels/index.ts'
import { type ModelConfig, kvDim } from './config.ts'
import type { KvCache } from './kv-cache.ts'
import type { LayerWeights } from './weights.ts'

export const DEFAULT_MAX_CHUNK = 64

export class SpanForward {
  private readonly x: Tensor // (maxChunk, dim) residual stream
  private readonly xb: Tensor // (maxChunk, dim) normed input / block output
  private readonly q: Tensor // (maxChunk, nHeads * headDim)
  private readonly k: Tensor // (maxChunk, kvDim)
  private readonly v: Tensor // (maxChunk, kvDim)
  private readonly att: Tensor // (maxChunk, nHeads * headDim) attention output
  private readonly hb: Tensor // (maxChunk, hiddenDim) gate, then silu(gate) * up
  private readonly hb2: Tensor // (maxChunk, hiddenDim) up
  private readonly positions: Int32Array // (maxChunk)

  constructor (
    private readonly backend: Backend,
    private readonly config: ModelConfig,
    private readonly layers: readonly LayerWeights[],
    readonly maxChunk = DEFAULT_MAX_CHUNK
  ) {
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
      this.chunk(cache, rows, pos0 + c)
      // the read is recorded before anything else can use this.x; its result may come later (a GPU)
      out.set(await this.backend.readAsync(this.x, 0, rows * dim), c * dim)
    }
    return out
  }

  /** The `n` rows in `this.x`, at positions [pos0, pos0 + n), through every layer. */
  private chunk (cache: KvCache, n: number, pos0: number): void {
    const { backend: b, config: c, x, xb, q, k, v, att, hb, hb2 } = this
    for (let i = 0; i < n; i++) this.positions[i] = pos0 + i
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
      b.copyRows(cache.k[l]!, pos0, k, n)
      b.copyRows(cache.v[l]!, pos0, v, n)
      b.attention(att, q, cache.k[l]!, cache.v[l]!, n, pos0, attn)
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
    for (const t of [this.x, this.xb, this.q, this.k, this.v, this.att, this.hb, this.hb2]) this.backend.free(t)
  }
}

/** The client's side of the model: token embedding in, final norm and LM head out. */
import type { Backend, Tensor } from '../kernels/index.ts'
import { InvalidArgumentError, ShapeMismatchError } from '../util/errors.ts'
import type { ModelConfig } from './config.ts'
import type { EndWeights } from './weights.ts'

const HEAD_CHUNK = 8

export class ModelEnds {
  private readonly xb: Tensor // (HEAD_CHUNK, dim)
  private readonly xn: Tensor // (HEAD_CHUNK, dim)
  private readonly logitsBuf: Tensor // (HEAD_CHUNK, vocabSize)

  constructor (readonly config: ModelConfig, private readonly backend: Backend, private readonly weights: EndWeights) {
    this.xb = backend.zeros([HEAD_CHUNK, config.dim])
    this.xn = backend.zeros([HEAD_CHUNK, config.dim])
    this.logitsBuf = backend.zeros([HEAD_CHUNK, config.vocabSize])
  }

  /** Token ids → hidden states (n, dim). */
  async embed (ids: readonly number[]): Promise<Float32Array> {
    const { vocabSize, dim } = this.config
    for (const id of ids) {
      if (!Number.isInteger(id) || id < 0 || id >= vocabSize) throw new InvalidArgumentError(`token id ${id} is outside the vocabulary of ${vocabSize}`)
    }
    const out = this.backend.zeros([ids.length, dim])
    try {
      this.backend.getRows(out, this.weights.embedding, Int32Array.from(ids))
      return await this.backend.readAsync(out)
    } finally {
      this.backend.free(out)
    }
  }

  /** Hidden states (n, dim) → logits (n, vocabSize). */
  async logits (hidden: Float32Array): Promise<Float32Array> {
    return await this.head(hidden, true)
  }

  /** Hidden states (n, dim) → the final norm of each (n, dim): what the head sees, and what embeddings pool. */
  async normed (hidden: Float32Array): Promise<Float32Array> {
    return await this.head(hidden, false)
  }

  private async head (hidden: Float32Array, logits: boolean): Promise<Float32Array> {
    const { dim, vocabSize, normEps } = this.config
    if (hidden.length % dim !== 0) throw new ShapeMismatchError(`hidden state of ${hidden.length} values is not a multiple of dim ${dim}`)
    const n = hidden.length / dim
    const width = logits ? vocabSize : dim
    const out = new Float32Array(n * width) // (n, vocabSize) or (n, dim)
    for (let c = 0; c < n; c += HEAD_CHUNK) {
      const rows = Math.min(HEAD_CHUNK, n - c)
      this.backend.write(this.xb, hidden.subarray(c * dim, (c + rows) * dim))
      this.backend.rmsnorm(this.xn, this.xb, this.weights.outputNorm, rows, normEps)
      if (logits) this.backend.matmul(this.logitsBuf, this.xn, this.weights.output, rows)
      out.set(await this.backend.readAsync(logits ? this.logitsBuf : this.xn, 0, rows * width), c * width)
    }
    return out
  }

  dispose (): void {
    for (const t of [this.xb, this.xn, this.logitsBuf]) this.backend.free(t)
  }
}

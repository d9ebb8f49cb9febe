/**
 * Recomputing a span locally, from the model file this peer has: how fraud proofs are checked (and
 * arbitration settled when no third server is at hand). Span executors are loaded on first use and
 * the last two kept, since checking is rare and spans can be large.
 */
import type { Backend } from '../kernels/index.ts'
import { LocalSpanExecutor, TensorNames, layerParts, type ModelSource } from '../model/index.ts'
import { type FrameDType, decodeFrame, encodeFrame, isQuantized } from '../tensor/index.ts'
import { throwIfAborted } from '../util/errors.ts'

export interface StepInput {
  /** first position of the step's rows */
  readonly from: number
  /** (rows, dim) */
  readonly input: Float32Array
}

/** Some weight of blocks [start, end) of `source` is stored quantized (the tolerance depends on it). */
export function spanQuantized (source: ModelSource, start: number, end: number): boolean {
  for (let b = start; b < end; b++) {
    for (const part of layerParts(source.config)) {
      const t = source.tensors.get(TensorNames.layer(b, part))
      if (t !== undefined && isQuantized(t.dtype)) return true
    }
  }
  return false
}

export class Recomputer {
  private readonly spans = new Map<string, Promise<LocalSpanExecutor>>()
  private runs = 0

  constructor (readonly source: ModelSource, private readonly backend: Backend, readonly modelId: string) {}

  /** Some weight of blocks [start, end) is stored quantized. */
  quantized (start: number, end: number): boolean {
    return spanQuantized(this.source, start, end)
  }

  /**
   * Runs blocks [start, end) over the steps in order, with their own boundaries, and returns each
   * step's output as it would travel on the wire in `dtype` (so an f16 session compares like with like).
   */
  async run (start: number, end: number, steps: readonly StepInput[], dtype: FrameDType, options: { signal?: AbortSignal } = {}): Promise<Float32Array[]> {
    const exec = await this.span(start, end)
    const dim = this.source.config.dim
    const total = steps.reduce((n, s) => Math.max(n, s.from + s.input.length / dim), 0)
    const session = await exec.open(`recompute-${this.runs++}`, { maxLength: Math.max(1, total) })
    try {
      const outs: Float32Array[] = []
      for (const s of steps) {
        throwIfAborted(options.signal)
        if (s.from < session.length) await session.rollback(s.from)
        const rows = s.input.length / dim
        const out = await session.forward(s.input, Array.from({ length: rows }, (_, i) => s.from + i)) // (rows, dim)
        outs.push(dtype === 'f32' ? out : decodeFrame(encodeFrame(out, [rows, dim], { dtype })).data)
      }
      return outs
    } finally {
      await session.close()
    }
  }

  private async span (start: number, end: number): Promise<LocalSpanExecutor> {
    const key = `${start}:${end}`
    let exec = this.spans.get(key)
    if (exec === undefined) {
      exec = LocalSpanExecutor.load(this.source, this.backend, { start, end, modelId: this.modelId })
      exec.catch(() => { this.spans.delete(key) })
      this.spans.set(key, exec)
      while (this.spans.size > 2) {
        const [oldest, old] = this.spans.entries().next().value!
        this.spans.delete(oldest)
        void old.then(async e => { await e.close() }).catch(() => {})
      }
    }
    return await exec
  }

  async close (): Promise<void> {
    await Promise.all([...this.spans.values()].map(async p => { await (await p).close() }))
    this.spans.clear()
  }
}

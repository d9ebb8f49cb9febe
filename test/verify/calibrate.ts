/**
 * Honest and cheating hop outputs computed in process, for the tolerance calibration (test/verify/
 * honest.test.ts) and the detection curves of bench/verify.ts: a hop over random inputs computed
 * by one backend token by token (the audited server), and by another in chunks (its auditor).
 */
import { type Backend, createBackend } from '../../src/kernels/index.ts'
import { LocalSpanExecutor, ModelEnds, Prng, loadWeights, type ModelSource } from '../../src/model/index.ts'
import { type FrameDType, decodeFrame, encodeFrame } from '../../src/tensor/index.ts'
import { distance, spanQuantized, tolerance } from '../../src/verify/index.ts'

export const BACKENDS = ['ref', 'wasm1', 'wasm2'] as const

/** What a cheating server does to a hop's outputs (rows, dim), given its inputs. */
export type OutputCheat = (out: Float32Array, input: Float32Array, dim: number) => Float32Array | Promise<Float32Array>

export class Calibration {
  private readonly execs = new Map<string, Promise<LocalSpanExecutor>>()
  private ends: ModelEnds | undefined

  private constructor (readonly source: ModelSource, private readonly backends: Backend[], readonly names: readonly string[]) {}

  static async create (source: ModelSource, names: ReadonlyArray<typeof BACKENDS[number]> = BACKENDS): Promise<Calibration> {
    const backends = await Promise.all(names.map(async n => n === 'ref' ? await createBackend('ref') : await createBackend('wasm', { threads: n === 'wasm2' ? 2 : 1 })))
    return new Calibration(source, backends, names)
  }

  /** Token embeddings (rows, dim) of random tokens: realistic inputs for any hop. */
  async input (rng: Prng, rows: number): Promise<Float32Array> {
    if (this.ends === undefined) {
      const ref = this.backends[0]!
      this.ends = new ModelEnds(this.source.config, ref, (await loadWeights(this.source, ref, { ends: true, start: 0, end: 0 })).ends!)
    }
    return await this.ends.embed(Array.from({ length: rows }, () => Math.floor(rng.next() * this.source.config.vocabSize)))
  }

  private async exec (b: number, start: number, end: number, source = this.source): Promise<LocalSpanExecutor> {
    const key = `${source.path}:${b}:${start}:${end}`
    let e = this.execs.get(key)
    if (e === undefined) { e = LocalSpanExecutor.load(source, this.backends[b]!, { start, end, modelId: 'x' }); this.execs.set(key, e) }
    return await e
  }

  /** The hop's outputs over `steps` (row counts), as they would travel on the wire in `dtype`. */
  async run (b: number, start: number, end: number, input: Float32Array, steps: readonly number[], dtype: FrameDType, source = this.source): Promise<Float32Array> {
    const dim = this.source.config.dim
    const s = await (await this.exec(b, start, end, source)).open(`c-${Math.random()}`, { maxLength: input.length / dim })
    const out = new Float32Array(input.length)
    let at = 0
    for (const n of steps) {
      const x = decodeFrame(encodeFrame(input.subarray(at * dim, (at + n) * dim), [n, dim], { dtype })).data
      const y = await s.forward(x, Array.from({ length: n }, (_, i) => at + i))
      out.set(decodeFrame(encodeFrame(y, [n, dim], { dtype })).data, at * dim)
      at += n
    }
    await s.close()
    return out
  }

  /**
   * `audits` audits of random hops: the audited server (a random backend, token by token, its
   * outputs through `cheat` if given) against an auditor (a random backend, random chunks).
   * Returns the worst distance per (wire, server/auditor) pair and how many exceeded the tolerance.
   */
  async audits (audits: number, seed: number, options: { cheat?: OutputCheat, dtype?: FrameDType, span?: [number, number], cheatSource?: ModelSource } = {}): Promise<{ worst: Record<string, number>, failures: number, tolerance: number }> {
    const { dim, nLayers } = this.source.config
    const rng = new Prng(seed)
    const int = (lo: number, hi: number): number => lo + Math.floor(rng.next() * (hi - lo + 1))
    const worst: Record<string, number> = {}
    let failures = 0
    let tol = 0
    const perSequence = options.cheat === undefined && options.cheatSource === undefined ? 20 : 4
    for (let done = 0; done < audits; done += perSequence) {
      const start = options.span?.[0] ?? int(0, nLayers - 1)
      const end = options.span?.[1] ?? int(start + 1, nLayers)
      const prompt = int(1, 12)
      const decode = int(1, 24)
      const input = await this.input(rng, prompt + decode)
      const dtype: FrameDType = options.dtype ?? (rng.next() < 0.5 ? 'f32' : 'f16')
      tol = tolerance({ dtype, quantized: spanQuantized(this.source, start, end) })
      const server = int(0, this.backends.length - 1)
      let theirs = await this.run(server, start, end, input, [prompt, ...Array(decode).fill(1)], dtype, options.cheatSource)
      if (options.cheat !== undefined) theirs = await options.cheat(theirs, input, dim)
      for (let a = 0; a < perSequence && done + a < audits; a++) {
        const auditor = int(0, this.backends.length - 1)
        const chunk = int(1, 8)
        const steps = [prompt]
        for (let left = decode; left > 0; left -= chunk) steps.push(Math.min(chunk, left))
        const d = distance(theirs, await this.run(auditor, start, end, input, steps, dtype), dim)
        const key = `${dtype} ${this.names[server]}/${this.names[auditor]}`
        worst[key] = Math.max(worst[key] ?? 0, d)
        if (!(d <= tol)) failures++
      }
    }
    return { worst, failures, tolerance: tol }
  }

  async close (): Promise<void> {
    for (const e of this.execs.values()) await (await e).close()
    this.ends?.dispose()
    for (const b of this.backends) b.dispose()
  }
}

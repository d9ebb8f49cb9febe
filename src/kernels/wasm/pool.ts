/**
 * Runs one kernel on several threads at once: the calling thread and `workers` share the work
 * (rows of a product, heads of attention) through a small control block in a SharedArrayBuffer.
 * The work is cut into a few chunks per thread that every participant claims with an atomic
 * counter, so a worker the OS has not scheduled yet costs nothing: the caller takes its chunks.
 * Workers spin briefly, then sleep in Atomics.wait; the caller blocks until every chunk is done,
 * so each op stays synchronous. No Node API here: a browser host can drive the same protocol with
 * Web Workers (worker-loop.mjs is the worker side, for either host; keep the two in sync).
 */
import { GridError } from '../../util/errors.ts'

/** Control block layout (Int32 indices); kernel arguments follow as Float64 from ARGS_BYTE. */
export const Ctl = { SEQ: 0, NEXT: 1, DONE: 2, CHUNKS: 3, CHUNK: 4, TOTAL: 5, FN: 6, NARGS: 7, STOP: 8, ERROR: 9 } as const
export const ARGS_BYTE = 256
export const MAX_ARGS = 32
export const CONTROL_BYTES = ARGS_BYTE + MAX_ARGS * 8
/** Polls of a shared word before falling back to Atomics.wait. */
export const SPIN = 20000
/**
 * NEXT holds the job's sequence number (low 19 bits) above a 12-bit chunk index, so a worker that
 * read a job's description and was descheduled can claim a chunk of that job only: its claim fails
 * once the job is over, unless 2^19 jobs ran meanwhile.
 */
export const CHUNK_BITS = 12
const SEQ_MASK = (1 << (31 - CHUNK_BITS)) - 1
/** Chunks per participating thread: enough to even out, few enough to stay cheap. */
const CHUNKS_PER_THREAD = 4

/** Kernels that can run split; a worker calls exports[KERNELS[id]](...args, start, end, tid). */
export const KERNELS = ['matmulF32', 'matmul16', 'mvQ', 'gemmQ', 'attention'] as const
export type KernelName = typeof KERNELS[number]

export class WorkerError extends GridError {
  constructor (message: string) {
    super('INTERNAL', message)
    this.name = 'WorkerError'
  }
}

/** The next unclaimed chunk of job `seq`, or -1 when the job has none left (or is over). */
export function claim (ctl: Int32Array, seq: number, chunks: number): number {
  for (;;) {
    const v = Atomics.load(ctl, Ctl.NEXT)
    const index = v & ((1 << CHUNK_BITS) - 1)
    if (v >>> CHUNK_BITS !== (seq & SEQ_MASK) || index >= chunks) return -1
    if (Atomics.compareExchange(ctl, Ctl.NEXT, v, v + 1) === v) return index
  }
}

export class ThreadPool {
  private readonly ctl: Int32Array
  private readonly args: Float64Array
  private seq = 0
  private disposed = false

  /** `control` must be CONTROL_BYTES of SharedArrayBuffer that `workers` workers already watch. */
  constructor (readonly control: SharedArrayBuffer, readonly workers: number, private readonly onDispose: () => void = () => {}) {
    this.ctl = new Int32Array(control, 0, ARGS_BYTE / 4)
    this.args = new Float64Array(control, ARGS_BYTE, MAX_ARGS)
  }

  /** Threads taking part: the workers and the caller. */
  get threads (): number {
    return this.workers + 1
  }

  /**
   * Runs fn(...args, start, end, tid) over [0, total) in chunks that are multiples of `align` rows
   * (the last may be short); `self` runs the chunks the caller claims (tid 0).
   */
  run (fn: KernelName, args: readonly number[], total: number, align: number, self: (start: number, end: number, tid: number) => void): void {
    if (this.disposed) throw new WorkerError('the thread pool is disposed')
    const { ctl } = this
    const chunk = Math.ceil(total / Math.min(Math.ceil(total / align), this.threads * CHUNKS_PER_THREAD, 1 << CHUNK_BITS) / align) * align
    const chunks = Math.ceil(total / chunk)
    const seq = this.seq = (this.seq + 1) | 0
    ctl[Ctl.FN] = KERNELS.indexOf(fn)
    ctl[Ctl.NARGS] = args.length
    this.args.set(args)
    ctl[Ctl.TOTAL] = total
    ctl[Ctl.CHUNK] = chunk
    ctl[Ctl.CHUNKS] = chunks
    Atomics.store(ctl, Ctl.DONE, 0)
    Atomics.store(ctl, Ctl.NEXT, (seq & SEQ_MASK) << CHUNK_BITS)
    Atomics.store(ctl, Ctl.SEQ, seq)
    Atomics.notify(ctl, Ctl.SEQ)
    for (let c; (c = claim(ctl, seq, chunks)) >= 0;) {
      self(c * chunk, Math.min(total, (c + 1) * chunk), 0)
      Atomics.add(ctl, Ctl.DONE, 1)
    }
    // wait for chunks a worker claimed and is still running
    let done = 0
    for (let i = 0; i < SPIN; i++) if ((done = Atomics.load(ctl, Ctl.DONE)) === chunks) break
    while (done !== chunks) {
      Atomics.wait(ctl, Ctl.DONE, done, 1000)
      done = Atomics.load(ctl, Ctl.DONE)
    }
    if (Atomics.load(ctl, Ctl.ERROR) !== 0) {
      Atomics.store(ctl, Ctl.ERROR, 0)
      throw new WorkerError(`a kernel worker failed in ${fn}`)
    }
  }

  /** Tells the workers to leave their loop; the pool is unusable afterwards. */
  dispose (): void {
    if (this.disposed) return
    this.disposed = true
    Atomics.store(this.ctl, Ctl.STOP, 1)
    Atomics.add(this.ctl, Ctl.SEQ, 1)
    Atomics.notify(this.ctl, Ctl.SEQ)
    this.onDispose()
  }
}

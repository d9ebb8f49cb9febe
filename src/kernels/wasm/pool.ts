/**
 * Runs one kernel on several threads at once: the calling thread and `workers` share the work
 * (rows of a product, heads of attention) through a small control block in a SharedArrayBuffer.
 * Workers spin briefly and then sleep in Atomics.wait; the caller blocks until all are done, so
 * every op stays synchronous. No Node API here: a browser host can start the same protocol with
 * Web Workers (see worker.mjs for the worker side).
 */
import { GridError } from '../../util/errors.ts'

/** Control block layout (Int32 indices); kernel arguments follow as Float64 from ARGS_BYTE. */
export const Ctl = { SEQ: 0, PENDING: 1, FN: 2, NARGS: 3, STOP: 4, ERROR: 5, RANGES: 16 } as const
export const ARGS_BYTE = 1024
export const MAX_ARGS = 32
export const CONTROL_BYTES = ARGS_BYTE + MAX_ARGS * 8
/** Polls of a shared word before falling back to Atomics.wait. */
export const SPIN = 20000

/** Kernels that can run split; a worker calls exports[KERNELS[id]](...args, start, end, tid). */
export const KERNELS = ['matmulF32', 'matmulQ8', 'matmulQ4', 'attention'] as const
export type KernelName = typeof KERNELS[number]

export class WorkerError extends GridError {
  constructor (message: string) {
    super('INTERNAL', message)
    this.name = 'WorkerError'
  }
}

export class ThreadPool {
  private readonly ctl: Int32Array
  private readonly args: Float64Array
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
   * Runs fn(...args, start, end, tid) over [0, total) split into `this.threads` ranges that are
   * multiples of `align` (the last may be short); `self` runs the caller's share (tid 0).
   */
  run (fn: KernelName, args: readonly number[], total: number, align: number, self: (start: number, end: number, tid: number) => void): void {
    if (this.disposed) throw new WorkerError('the thread pool is disposed')
    const { ctl } = this
    const parts = this.threads
    const chunk = Math.ceil(total / parts / align) * align
    for (let w = 0; w < this.workers; w++) {
      ctl[Ctl.RANGES + 2 * w] = Math.min(total, (w + 1) * chunk)
      ctl[Ctl.RANGES + 2 * w + 1] = Math.min(total, (w + 2) * chunk)
    }
    ctl[Ctl.FN] = KERNELS.indexOf(fn)
    ctl[Ctl.NARGS] = args.length
    this.args.set(args)
    Atomics.store(ctl, Ctl.PENDING, this.workers)
    Atomics.add(ctl, Ctl.SEQ, 1)
    Atomics.notify(ctl, Ctl.SEQ)
    self(0, Math.min(total, chunk), 0)
    let pending = 0
    for (let i = 0; i < SPIN; i++) if ((pending = Atomics.load(ctl, Ctl.PENDING)) === 0) break
    while (pending !== 0) {
      Atomics.wait(ctl, Ctl.PENDING, pending, 1000)
      pending = Atomics.load(ctl, Ctl.PENDING)
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

/**
 * Admission control: at most `maxConcurrency` generations run at once, at most `maxQueue` wait
 * for a slot (first come, first served), and anything beyond that is refused at once with an
 * OverloadedError carrying a Retry-After estimate. A waiter whose signal fires leaves the queue.
 */
import { InvalidArgumentError, OverloadedError, throwIfAborted } from '../util/errors.ts'

export interface LimiterOptions {
  /** generations running at once (>= 1) */
  maxConcurrency: number
  /** requests waiting for a slot (>= 0) */
  maxQueue: number
}

/** Gives the slot back; calling it again does nothing. */
export type Release = () => void

interface Waiter {
  grant: () => void
}

export class Limiter {
  readonly maxConcurrency: number
  readonly maxQueue: number
  private running = 0
  private readonly waiting: Waiter[] = []
  /** moving average of how long a slot is held, for Retry-After */
  private holdSeconds = 1

  constructor (options: LimiterOptions) {
    const { maxConcurrency, maxQueue } = options
    if (!Number.isInteger(maxConcurrency) || maxConcurrency < 1) throw new InvalidArgumentError(`maxConcurrency must be an integer >= 1, got ${maxConcurrency}`)
    if (!Number.isInteger(maxQueue) || maxQueue < 0) throw new InvalidArgumentError(`maxQueue must be an integer >= 0, got ${maxQueue}`)
    this.maxConcurrency = maxConcurrency
    this.maxQueue = maxQueue
  }

  get active (): number {
    return this.running
  }

  get queued (): number {
    return this.waiting.length
  }

  /** Seconds until a slot is likely free: the queue ahead, divided over the slots. */
  retryAfterSeconds (): number {
    const rounds = (this.waiting.length + 1) / this.maxConcurrency
    return Math.min(60, Math.max(1, Math.ceil(this.holdSeconds * rounds)))
  }

  /** Waits for a slot; throws OverloadedError when the queue is full, AbortError when `signal` fires. */
  async acquire (options: { signal?: AbortSignal } = {}): Promise<Release> {
    const { signal } = options
    throwIfAborted(signal)
    if (this.running < this.maxConcurrency) {
      this.running++
      return this.releaser()
    }
    if (this.waiting.length >= this.maxQueue) {
      throw new OverloadedError(`server busy: ${this.running} requests running and ${this.waiting.length} queued, the most it takes`, this.retryAfterSeconds())
    }
    await new Promise<void>((resolve, reject) => {
      const onAbort = (): void => {
        const at = this.waiting.indexOf(waiter)
        if (at >= 0) this.waiting.splice(at, 1)
        try { throwIfAborted(signal) } catch (err) { reject(err) }
      }
      const waiter: Waiter = { grant: () => { signal?.removeEventListener('abort', onAbort); resolve() } }
      this.waiting.push(waiter)
      signal?.addEventListener('abort', onAbort, { once: true })
    })
    return this.releaser()
  }

  private releaser (): Release {
    const t0 = performance.now()
    let released = false
    return () => {
      if (released) return
      released = true
      this.holdSeconds = 0.8 * this.holdSeconds + 0.2 * (performance.now() - t0) / 1000
      const next = this.waiting.shift()
      if (next !== undefined) next.grant() // the slot passes straight to the next waiter
      else this.running--
    }
  }
}

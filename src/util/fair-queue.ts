/**
 * Runs tasks `concurrency` at a time (default one), taking turns between keys (round robin), so that one key with many
 * tasks waiting cannot starve the others: while several keys wait, each gets 1/k of the turns. A key
 * may have at most `maxPendingPerKey` tasks waiting or running; more are refused with BusyError.
 * The span server keys its compute by the peer that owns each session.
 *
 * With a `priority` (the span server's: the peer's credit balance in coarse tiers), the keys of the
 * highest priority waiting take their turns first, round robin among themselves; lower ones wait
 * until none of a higher priority is waiting (priority, not access: everyone is served when the
 * server is not full).
 *
 * With a concurrency above one the tasks that run together are the next ones in that order: the
 * span server lets as many steps run at once as one batched forward can carry.
 */
import { BusyError } from './errors.ts'

interface Job {
  readonly run: () => Promise<void>
}

export class FairQueue {
  /** per key, its waiting jobs; the Map's order is the turn order */
  private readonly queues = new Map<string, Job[]>()
  private readonly counts = new Map<string, number>()
  private running = 0

  constructor (readonly maxPendingPerKey: number, private readonly retryAfterMs = 1000, private readonly priority?: (key: string) => number,
    readonly concurrency = 1) {}

  /** Tasks of `key` waiting or running. */
  pending (key: string): number {
    return this.counts.get(key) ?? 0
  }

  get size (): number {
    let n = 0
    for (const c of this.counts.values()) n += c
    return n
  }

  /** Runs `task` in `key`'s turn; throws BusyError at once if `key` has too many tasks pending. */
  async run<T> (key: string, task: () => Promise<T> | T): Promise<T> {
    const pending = this.pending(key)
    if (pending >= this.maxPendingPerKey) {
      throw new BusyError(`${pending} steps of this peer are already waiting (the most one peer may have)`, this.retryAfterMs)
    }
    this.counts.set(key, pending + 1)
    const done = Promise.withResolvers<T>()
    const job: Job = {
      run: async () => {
        try {
          done.resolve(await task())
        } catch (err) {
          done.reject(err)
        } finally {
          const left = this.pending(key) - 1
          if (left === 0) this.counts.delete(key)
          else this.counts.set(key, left)
        }
      }
    }
    const queue = this.queues.get(key)
    if (queue === undefined) this.queues.set(key, [job])
    else queue.push(job)
    this.drain()
    return await done.promise
  }

  /** Starts waiting jobs while fewer than `concurrency` run. */
  private drain (): void {
    while (this.running < this.concurrency) {
      const next = this.pick()
      if (next === undefined) return
      const [key, jobs] = next
      const job = jobs.shift()!
      // this key's turn is over: it goes to the back of the line (or leaves it)
      this.queues.delete(key)
      if (jobs.length > 0) this.queues.set(key, jobs)
      this.running++
      void job.run().finally(() => { this.running--; this.drain() })
    }
  }

  /** The key whose turn it is: the first in turn order, or with a priority the first of the highest. */
  private pick (): [string, Job[]] | undefined {
    if (this.priority === undefined || this.queues.size < 2) return this.queues.entries().next().value
    let best: [string, Job[]] | undefined
    let bestPriority = -Infinity
    for (const entry of this.queues) {
      const p = this.priority(entry[0])
      if (p > bestPriority) { best = entry; bestPriority = p }
    }
    return best
  }
}

/**
 * StepBatcher: the steps several sessions of one span submit at about the same time run as one
 * forward (SpanForward.runBatch), so one read of the weights serves all their rows. Where decode
 * is memory-bound (GPUs, F32 weights) many sessions then cost little more than one; where a row's
 * arithmetic already fills the core (quantized weights on one CPU thread), less is saved
 * (docs/swarm.md, bench/batching.ts).
 *
 * Gathering: a step waits for the current forward to finish and one turn of the event loop (every
 * step already received joins it). While other sessions that stepped recently have no step in yet,
 * it waits for them at most `waitMs` from its arrival; a lone session never waits. Steps join a
 * batch in arrival order up to `maxRows` rows; a step longer than that runs alone, chunked.
 */
import { cpuMillis, nextTurn } from '../util/clock.ts'
import { AbortError, SessionError } from '../util/errors.ts'
import { logger } from '../util/log.ts'
import type { SpanForward, StepInput } from './forward.ts'

const log = logger('model:batch')

export interface BatchOptions {
  /** rows one forward may carry; default (and at most) the forward's chunk */
  maxRows?: number
  /** the longest a step waits for other active sessions' steps to join its batch, ms; 0: never; default 1 */
  waitMs?: number
  /** a session that stepped within this many ms is one a step waits for; default 1000 */
  activeMs?: number
}

/** What computing one step cost: its share of the forward that computed it. */
export interface StepCost {
  /** this step's rows, and the rows and steps of its forward */
  readonly rows: number
  readonly batchRows: number
  readonly batchSteps: number
  /** rows / batchRows of the forward's wall and CPU time (cpuMs NaN where there is no CPU clock) */
  readonly ms: number
  readonly cpuMs: number
  /** from the step's arrival to its forward's start */
  readonly waitMs: number
}

interface Pending {
  readonly owner: object
  readonly input: StepInput
  readonly rows: number
  readonly at: number
  readonly done: PromiseWithResolvers<{ out: Float32Array, cost: StepCost }>
  readonly unlisten: () => void
}

export const DEFAULT_BATCH_WAIT_MS = 1

export class StepBatcher {
  readonly maxRows: number
  readonly waitMs: number
  private readonly activeMs: number
  private readonly pending: Pending[] = []
  /** owner (a session) → when it last submitted */
  private readonly seen = new Map<object, number>()
  private running = false
  private turnPending = false
  private timer: ReturnType<typeof setTimeout> | undefined
  /** forwards run and steps they carried, since the start */
  forwards = 0
  steps = 0

  constructor (private readonly forward: SpanForward, options: BatchOptions = {}) {
    this.maxRows = Math.max(1, Math.min(options.maxRows ?? forward.maxChunk, forward.maxChunk))
    this.waitMs = Math.max(0, options.waitMs ?? DEFAULT_BATCH_WAIT_MS)
    this.activeMs = options.activeMs ?? 1000
  }

  /** Computes `input` (in a batch with other owners' steps); one step per owner at a time. */
  async submit (owner: object, input: StepInput, options: { signal?: AbortSignal } = {}): Promise<{ out: Float32Array, cost: StepCost }> {
    const { signal } = options
    if (signal?.aborted === true) throw new AbortError('the step was aborted', { cause: signal.reason })
    const done = Promise.withResolvers<{ out: Float32Array, cost: StepCost }>()
    const onAbort = (): void => { this.drop(item, new AbortError('the step was aborted', { cause: signal?.reason })) }
    signal?.addEventListener('abort', onAbort, { once: true })
    const item: Pending = {
      owner, input, rows: input.hidden.length / this.forward.dim, at: performance.now(), done,
      unlisten: () => { signal?.removeEventListener('abort', onAbort) }
    }
    this.pending.push(item)
    this.seen.set(owner, item.at)
    if (this.timer !== undefined && this.missing() === 0) { clearTimeout(this.timer); this.timer = undefined }
    this.schedule()
    return await done.promise
  }

  /** Forgets `owner` (its session closed); a step of its still waiting is refused. */
  forget (owner: object): void {
    this.seen.delete(owner)
    for (const p of this.pending.filter(p => p.owner === owner)) this.drop(p, new SessionError('SESSION_CLOSED', 'the session closed while its step waited'))
  }

  private drop (item: Pending, err: Error): void {
    const i = this.pending.indexOf(item)
    if (i < 0) return
    this.pending.splice(i, 1)
    item.unlisten()
    item.done.reject(err)
  }

  /** Sessions active within `activeMs` with no step waiting. */
  private missing (): number {
    const now = performance.now()
    let n = 0
    for (const [owner, at] of this.seen) {
      if (now - at > this.activeMs) this.seen.delete(owner)
      else if (!this.pending.some(p => p.owner === owner)) n++
    }
    return n
  }

  private schedule (): void {
    if (this.running || this.turnPending || this.timer !== undefined) return
    this.turnPending = true
    nextTurn(() => { this.turnPending = false; this.flush() })
  }

  private flush (): void {
    if (this.running || this.pending.length === 0) return
    const waited = performance.now() - this.pending[0]!.at
    const rows = this.pending.reduce((sum, p) => sum + p.rows, 0)
    if (waited < this.waitMs && rows < this.maxRows && this.missing() > 0) {
      this.timer = setTimeout(() => { this.timer = undefined; this.flush() }, this.waitMs - waited)
      return
    }
    void this.run()
  }

  /** Runs the steps at the head of the line that fit in one forward, then schedules the rest. */
  private async run (): Promise<void> {
    this.running = true
    const batch: Pending[] = [this.pending.shift()!]
    let rows = batch[0]!.rows
    while (this.pending.length > 0 && rows + this.pending[0]!.rows <= this.maxRows) {
      const next = this.pending.shift()!
      batch.push(next)
      rows += next.rows
    }
    for (const p of batch) p.unlisten()
    const [w0, c0] = [performance.now(), cpuMillis()]
    try {
      const outs = batch.length === 1 && rows > this.maxRows
        ? [await this.forward.run(batch[0]!.input.cache, batch[0]!.input.hidden, batch[0]!.input.pos0)]
        : await this.forward.runBatch(batch.map(p => p.input))
      const [ms, c1] = [performance.now() - w0, cpuMillis()]
      const cpuMs = c0 === undefined || c1 === undefined ? NaN : c1 - c0
      this.forwards++
      this.steps += batch.length
      if (batch.length > 1) log('%d steps, %d rows: %s ms', batch.length, rows, ms.toFixed(2))
      batch.forEach((p, i) => {
        const share = p.rows / rows
        p.done.resolve({ out: outs[i]!, cost: { rows: p.rows, batchRows: rows, batchSteps: batch.length, ms: ms * share, cpuMs: cpuMs * share, waitMs: w0 - p.at } })
      })
    } catch (err) {
      for (const p of batch) p.done.reject(err)
    } finally {
      this.running = false
      if (this.pending.length > 0) this.schedule()
    }
  }
}

/**
 * Re-running a hop's history on another server, as an ordinary session: the same protocol, a fresh
 * random session id, the same maximum length, relayed steps. The auditor cannot tell it from real
 * work (a relayed session whose decode steps come a few at a time, like speculative decoding's, each
 * after the result of the one before). The first step is sent as it was (the prompt); later ones are
 * grouped `chunk` at a time, which honest servers compute within the tolerance of token-by-token
 * decoding and at about half its cost per row (a multi-row step reads each weight once).
 */
import { randomId } from '../util/bytes.ts'
import { type HopPayer, type NetNode, type PeerAddress, type Receipt, RemoteSpanSession } from '../net/index.ts'
import type { StepRecord } from '../swarm/index.ts'
import type { FrameDType } from '../tensor/index.ts'
import { type GridError, NetworkError } from '../util/errors.ts'
import { deadline } from '../util/timeout.ts'

export interface ReplayJob {
  readonly modelId: string
  readonly start: number
  readonly end: number
  readonly dim: number
  readonly dtype: FrameDType
  readonly maxLength: number
}

/**
 * The longest prefix of `records` that replays from position 0: step ids without gaps, each step
 * starting at or before the end of the one before it (before it: a rollback, as after speculative
 * decoding's rejected drafts, which the step's `from` carries to the server).
 */
export function contiguous (records: readonly StepRecord[], dim: number): StepRecord[] {
  const out: StepRecord[] = []
  let next = 0
  for (const r of records) {
    const prev = out[out.length - 1]
    if (prev === undefined ? r.from !== 0 : r.from > next || r.step !== prev.step + 1) break
    out.push(r)
    next = r.from + r.input.length / dim
  }
  return out
}

/** Concatenates (rows, dim) blocks. */
export function concat (parts: readonly Float32Array[]): Float32Array {
  if (parts.length === 1) return parts[0]!
  const out = new Float32Array(parts.reduce((n, p) => n + p.length, 0))
  let at = 0
  for (const p of parts) { out.set(p, at); at += p.length }
  return out
}

/** A session at another server that is fed a hop's inputs; its own records are what it returned. */
export class ReplaySession {
  readonly records: StepRecord[] = []
  private readonly results = new Map<number, { output: Float32Array, receipt: Receipt }>()
  private failure: GridError | undefined
  private wake = (): void => {}
  private nextStep = 0

  private constructor (readonly session: string, readonly server: PeerAddress, private readonly job: ReplayJob, private remote: RemoteSpanSession | undefined) {}

  static async open (node: NetNode, server: PeerAddress, job: ReplayJob, options: { signal?: AbortSignal, payer?: HopPayer } = {}): Promise<ReplaySession> {
    const id = randomId()
    const replay = new ReplaySession(id, server, job, undefined)
    replay.remote = await RemoteSpanSession.open(node, server, { session: id, model: job.modelId, start: job.start, end: job.end, maxLength: job.maxLength, dtype: job.dtype }, job.dim, {
      onResult: (step, output, receipt) => { replay.results.set(step, { output, receipt }); replay.wake() },
      onFailure: err => { replay.failure ??= err; replay.wake() }
    }, { signal: options.signal, payer: options.payer })
    return replay
  }

  /**
   * Sends the groups (each one step of concatenated inputs) one at a time, each after the result of
   * the one before, as a real client's decoding must (its next input depends on the last output), and
   * returns their records.
   */
  async run (groups: ReadonlyArray<readonly StepRecord[]>, options: { signal?: AbortSignal, timeoutMs?: number } = {}): Promise<StepRecord[]> {
    const rows = groups.reduce((n, g) => n + g.reduce((m, r) => m + r.input.length / this.job.dim, 0), 0)
    const limit = deadline(options.timeoutMs ?? 30_000 + 200 * rows, options.signal, () => new NetworkError('TIMEOUT', `${this.server.id.slice(-8)} did not finish a replay in time`))
    const onAbort = (): void => { this.wake() }
    limit.signal.addEventListener('abort', onAbort, { once: true })
    try {
      const out: StepRecord[] = []
      for (const g of groups) {
        const sent = { step: this.nextStep++, from: g[0]!.from, input: concat(g.map(r => r.input)) }
        await this.remote!.step(sent.step, sent.from, sent.input, false)
        await this.resultOf(sent.step, limit.signal)
        out.push({ ...sent, ...this.results.get(sent.step)! })
        this.results.delete(sent.step)
      }
      this.records.push(...out)
      return out
    } finally {
      limit.signal.removeEventListener('abort', onAbort)
      limit.clear()
    }
  }

  /** Waits until step's result is in, the session failed, or `signal` fired. */
  private async resultOf (step: number, signal: AbortSignal): Promise<void> {
    while (!this.results.has(step)) {
      if (this.failure !== undefined) throw this.failure
      if (signal.aborted) throw signal.reason as Error
      await new Promise<void>(resolve => {
        const t = setTimeout(resolve, 250)
        this.wake = () => { clearTimeout(t); resolve() }
      })
    }
  }

  async close (): Promise<void> {
    await this.remote?.close()
  }
}

/**
 * Groups records: the first alone (the prompt), then up to `chunk` at a time, each group of steps
 * whose positions run on (a step that rolls back starts a new group, which the server rolls back for).
 */
export function group (records: readonly StepRecord[], chunk: number, dim: number): StepRecord[][] {
  const groups: StepRecord[][] = []
  let end = 0
  records.forEach((r, i) => {
    const last = groups[groups.length - 1]
    if (i <= 1 || last!.length >= chunk || r.from !== end) groups.push([r])
    else last!.push(r)
    end = r.from + r.input.length / dim
  })
  return groups
}

/** Runs `records`' inputs through `server` once; returns the session id and the server's own records. */
export async function replayOn (node: NetNode, server: PeerAddress, job: ReplayJob, records: readonly StepRecord[],
  options: { chunk?: number, signal?: AbortSignal, payer?: HopPayer } = {}): Promise<{ session: string, records: StepRecord[] }> {
  const replay = await ReplaySession.open(node, server, job, options)
  try {
    return { session: replay.session, records: await replay.run(group(records, Math.max(1, options.chunk ?? 4), job.dim), options) }
  } finally {
    await replay.close()
  }
}

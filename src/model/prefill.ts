/**
 * Running a prompt through every span: sessions opened on each executor, the tokens sent in steps
 * of at most the executors' `stepTokens` with a turn of the event loop between steps (a long prompt
 * on a local span never holds the process for more than one step; remote spans take it whole).
 * PrefillShare lets n generations of one prompt compute it once: the first runs it, the others
 * start from forks of its KV caches taken before it goes on.
 */
import { randomId } from '../util/bytes.ts'
import { throwIfAborted } from '../util/errors.ts'
import { logger } from '../util/log.ts'
import type { ModelConfig } from './config.ts'
import type { ModelEnds } from './ends.ts'
import type { SpanExecutor, SpanSession } from './span.ts'

const log = logger('model:prefill')


export interface Pipeline {
  readonly config: ModelConfig
  readonly ends: ModelEnds
  readonly executors: readonly SpanExecutor[]
}

/** Sessions with a prompt in their caches, and the logits after its last token. */
export interface Started {
  readonly sessions: SpanSession[]
  readonly logits: Float32Array
}

export async function openSessions (pipeline: Pipeline, sessionId: string, maxLength: number, signal?: AbortSignal): Promise<SpanSession[]> {
  const sessions: SpanSession[] = []
  try {
    for (const e of pipeline.executors) sessions.push(await e.open(sessionId, { maxLength, signal }))
  } catch (err) {
    await closeAll(sessions)
    throw err
  }
  return sessions
}

export async function closeAll (sessions: readonly SpanSession[]): Promise<void> {
  await Promise.allSettled(sessions.map(async s => await s.close()))
}

/**
 * Sends `ids` from position `pos` through the sessions in chunks; `onHidden` sees each chunk's
 * final hidden states (rows, dim). Returns the last chunk's.
 */
export async function forwardTokens (pipeline: Pipeline, sessions: readonly SpanSession[], ids: readonly number[], pos: number,
  signal?: AbortSignal, onHidden?: (hidden: Float32Array) => void | Promise<void>): Promise<Float32Array> {
  let last: Float32Array = new Float32Array(0)
  const step = Math.min(ids.length, ...pipeline.executors.map(e => e.stepTokens ?? Infinity))
  for (let c = 0; c < ids.length; c += step) {
    if (c > 0) await new Promise(resolve => setTimeout(resolve, 0)) // let other sessions' steps in
    throwIfAborted(signal)
    const chunk = ids.slice(c, c + step)
    let hidden = await pipeline.ends.embed(chunk) // (rows, dim)
    const positions = Array.from(chunk, (_, i) => pos + c + i)
    for (const s of sessions) hidden = await s.forward(hidden, positions, { signal })
    await onHidden?.(hidden)
    last = hidden
  }
  return last
}

/** Opens sessions and runs the prompt; the caller closes the sessions. */
export async function prefill (pipeline: Pipeline, ids: readonly number[], maxLength: number, signal?: AbortSignal): Promise<Started> {
  const sessions = await openSessions(pipeline, randomId(), maxLength, signal)
  try {
    const hidden = await forwardTokens(pipeline, sessions, ids, 0, signal)
    return { sessions, logits: await pipeline.ends.logits(hidden.subarray(hidden.length - pipeline.config.dim)) }
  } catch (err) {
    await closeAll(sessions)
    throw err
  }
}

/** One prompt's prefill shared by `n` generations (OpenAI's `n`). */
export class PrefillShare {
  /** times the prompt was computed (1 when every span can fork) */
  prefills = 0
  private first: Promise<Started> | undefined
  private readonly forks: Started[] = []
  private disposed = false

  constructor (readonly n: number) {}

  /** A start for one generation: the first taker runs the prompt, the others take forks (or run it too where a span cannot fork). */
  async take (pipeline: Pipeline, ids: readonly number[], maxLength: number, signal?: AbortSignal): Promise<Started> {
    if (this.first === undefined) {
      this.first = this.run(pipeline, ids, maxLength, signal)
      return await this.first
    }
    await this.first
    const fork = this.forks.shift()
    if (fork !== undefined) return fork
    this.prefills++
    log('a span cannot fork: computing the prompt again')
    return await prefill(pipeline, ids, maxLength, signal)
  }

  private async run (pipeline: Pipeline, ids: readonly number[], maxLength: number, signal?: AbortSignal): Promise<Started> {
    this.prefills++
    const start = await prefill(pipeline, ids, maxLength, signal)
    if (start.sessions.every(s => s.fork !== undefined)) {
      for (let k = 1; k < this.n; k++) {
        const id = randomId()
        const sessions: SpanSession[] = []
        try {
          for (const s of start.sessions) sessions.push(await s.fork!(id, { signal }))
        } catch (err) {
          await closeAll([...sessions, ...start.sessions])
          throw err
        }
        this.forks.push({ sessions, logits: start.logits.slice() })
      }
    }
    if (this.disposed) await this.dispose()
    return start
  }

  /** Closes the forks no generation took. */
  async dispose (): Promise<void> {
    this.disposed = true
    const left = this.forks.splice(0)
    await closeAll(left.flatMap(f => f.sessions))
  }
}

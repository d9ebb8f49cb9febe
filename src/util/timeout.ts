/**
 * Timeouts that cannot be lost. `AbortSignal.timeout()` keeps only a weak reference to its signal,
 * and a signal combined with `AbortSignal.any()` can be garbage-collected before it fires (Node 20,
 * nodejs/node#57736): a wait guarded by one may then hang for good. Here a real timer holds the
 * controller, so the signal fires unless `clear()` is called first.
 */
import { AbortError, GridError, NetworkError } from './errors.ts'

export interface Deadline {
  /** fires when the time is up or the parent signal fires */
  readonly signal: AbortSignal
  /** Stops the timer and unhooks the parent (call it when the guarded work is done). */
  clear (): void
}

/**
 * A signal that aborts after `ms` with `reason()` (default: a TIMEOUT NetworkError), or when
 * `parent` aborts (with its reason).
 */
export function deadline (ms: number, parent?: AbortSignal, reason: () => Error = () => new NetworkError('TIMEOUT', `timed out after ${ms} ms`)): Deadline {
  const controller = new AbortController()
  const onParent = (): void => { controller.abort(parent!.reason) }
  const timer = setTimeout(() => { controller.abort(reason()) }, ms)
  if (parent?.aborted === true) onParent()
  else parent?.addEventListener('abort', onParent, { once: true })
  return {
    signal: controller.signal,
    clear: () => {
      clearTimeout(timer)
      parent?.removeEventListener('abort', onParent)
    }
  }
}

/** Runs `fn` with a deadline signal and clears it afterwards, whatever happens. */
export async function withDeadline<T> (ms: number, parent: AbortSignal | undefined, fn: (signal: AbortSignal) => Promise<T>, reason?: () => Error): Promise<T> {
  const d = deadline(ms, parent, reason)
  try {
    return await fn(d.signal)
  } finally {
    d.clear()
  }
}

/** Resolves after `ms`; rejects with an AbortError when `signal` fires first. */
export async function sleep (ms: number, options: { signal?: AbortSignal } = {}): Promise<void> {
  const { signal } = options
  await new Promise<void>((resolve, reject) => {
    if (signal?.aborted === true) { reject(abortReason(signal)); return }
    const onAbort = (): void => { clearTimeout(timer); reject(abortReason(signal!)) }
    const timer = setTimeout(() => { signal?.removeEventListener('abort', onAbort); resolve() }, ms)
    signal?.addEventListener('abort', onAbort, { once: true })
  })
}

/** The signal's reason as a GridError (an AbortError unless it already is one). */
function abortReason (signal: AbortSignal): Error {
  const r: unknown = signal.reason
  if (r instanceof GridError) return r
  return new AbortError(r instanceof Error ? r.message : 'the operation was aborted', { cause: r })
}

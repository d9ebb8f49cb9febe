/**
 * A signal that aborts after `ms`, kept alive by a real timer (Node 20 can collect an
 * AbortSignal.timeout() before it fires). The timer does not keep a Node process running.
 */
import { NetworkError } from './errors.ts'
import { unref } from './bytes.ts'

export function timeoutSignal (ms: number, what = 'the operation'): AbortSignal {
  const controller = new AbortController()
  unref(setTimeout(() => { controller.abort(new NetworkError('TIMEOUT', `${what} timed out after ${ms} ms`)) }, ms))
  return controller.signal
}

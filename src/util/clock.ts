/**
 * This process's CPU time (user + system) in milliseconds, where the platform tells it (Node), else
 * undefined (a browser). Measured work: a span server's step log reports both the wall time and the
 * CPU time of each forward pass, so benchmarks can count compute without counting waits for a core.
 */
export function cpuMillis (): number | undefined {
  const usage = (globalThis as { process?: { cpuUsage?: () => { user: number, system: number } } }).process?.cpuUsage?.()
  return usage === undefined ? undefined : (usage.user + usage.system) / 1000
}

/** Runs `fn` and returns its result with the wall and CPU milliseconds it took (cpuMs NaN where unknown). */
export async function timed<T> (fn: () => Promise<T>): Promise<{ value: T, ms: number, cpuMs: number }> {
  const [w0, c0] = [performance.now(), cpuMillis()]
  const value = await fn()
  const c1 = cpuMillis()
  return { value, ms: performance.now() - w0, cpuMs: c0 === undefined || c1 === undefined ? NaN : c1 - c0 }
}

/**
 * Runs `fn` once the event loop has given waiting I/O its turn: setImmediate in Node, a message on a
 * fresh channel in a browser (where setImmediate is missing and nested timers are clamped to 4 ms).
 */
export function nextTurn (fn: () => void): void {
  const immediate = (globalThis as { setImmediate?: (fn: () => void) => unknown }).setImmediate
  if (immediate !== undefined) { immediate(fn); return }
  const channel = new MessageChannel()
  const port = channel.port1 as unknown as { onmessage: (() => void) | null, close: () => void } // the DOM's MessagePort
  port.onmessage = () => { port.close(); fn() }
  channel.port2.postMessage(null)
}

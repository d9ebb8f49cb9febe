/**
 * One hop's round trip, as a chain sees it: a session at a server over one block, single-token
 * steps (a hidden state out, the block's output back). With a tiny model this is the link and
 * the protocol's own cost; the benchmarks (bench/browser.ts) measure tabs and native nodes with it.
 */
import { RemoteSpanSession } from '../net/index.ts'
import { randomId } from '../util/bytes.ts'
import type { NetNode } from '../net/index.ts'
import { peerAddress, type ServerInfo } from './directory.ts'

/** Milliseconds per step, for `steps` steps after `warmup` unmeasured ones. */
export async function hopRoundTrips (node: NetNode, server: ServerInfo, dim: number, options: { steps?: number, warmup?: number } = {}): Promise<number[]> {
  const steps = options.steps ?? 200
  const warmup = options.warmup ?? 20
  const done = new Map<number, () => void>()
  let failed: Error | undefined
  const session = await RemoteSpanSession.open(node, peerAddress(server), {
    session: randomId(), model: server.model, start: server.start, end: server.start + 1, maxLength: steps + warmup
  }, dim, {
    onResult: step => { done.get(step)?.() },
    onFailure: err => { failed ??= err; for (const d of done.values()) d() }
  })
  const hidden = Float32Array.from({ length: dim }, (_, i) => Math.sin(i) * 0.1) // (1, dim)
  const out: number[] = []
  try {
    for (let k = 0; k < steps + warmup; k++) {
      const answered = new Promise<void>(resolve => done.set(k, resolve))
      const t0 = performance.now()
      await session.step(k, k, hidden, false)
      await answered
      if (failed !== undefined) throw failed
      if (k >= warmup) out.push(performance.now() - t0)
      done.delete(k)
    }
  } finally {
    await session.close()
  }
  return out
}

/**
 * Test-only wrappers that make a real, in-process swarm server misbehave (nothing in the product
 * can be told to cheat): a server that claims more than it does, or that is slower than it says.
 */
import type { SpanSession } from '../../src/model/index.ts'
import type { SpanHost } from '../../src/net/index.ts'
import type { ServerRecord, SwarmServer } from '../../src/swarm/index.ts'

interface Internals {
  host: SpanHost
  spanServer: { setHost: (h: SpanHost) => void }
  announce: (host: SpanHost) => Promise<void>
}

/** Makes `server` announce `claims` on top of its true record, now and at every re-announce. */
export async function lieInRecord (server: SwarmServer, claims: (r: ServerRecord) => Partial<ServerRecord>): Promise<void> {
  const honest = server.record.bind(server)
  server.record = (host?: Parameters<SwarmServer['record']>[0]) => { const r = honest(host); return { ...r, ...claims(r) } }
  const inner = server as unknown as Internals
  await inner.announce(inner.host)
}

/** What a cheat does to a step: gets the honest output (or can skip computing it) and returns its own. */
export type StepCheat = (step: { hidden: Float32Array, positions: ArrayLike<number>, honest: () => Promise<Float32Array>, host: SpanHost, start: number, end: number, maxLength: number, sessionId: string }) => Promise<Float32Array>

/** Makes `server` answer every step through `cheat` (sessions opened from now on). */
export function cheat (server: SwarmServer, fn: StepCheat, host: SpanHost = (server as unknown as Internals).host): void {
  const inner = server as unknown as Internals
  const wrapped: SpanHost = {
    get modelId () { return host.modelId },
    get dim () { return host.dim },
    get freeCacheTokens () { return host.freeCacheTokens },
    get cacheBudgetBytes () { return host.cacheBudgetBytes },
    cacheBytes: (start, end, maxLength) => host.cacheBytes(start, end, maxLength),
    open: async (id, start, end, maxLength): Promise<SpanSession> => {
      const s = await host.open(id, start, end, maxLength)
      return {
        sessionId: s.sessionId,
        get length () { return s.length },
        get maxLength () { return s.maxLength },
        forward: async (hidden, positions, options) => await fn({ hidden, positions, honest: async () => await s.forward(hidden, positions, options), host, start, end, maxLength, sessionId: id }),
        rollback: async (to, options) => { await s.rollback(to, options) },
        close: async () => { await s.close() }
      }
    }
  }
  inner.spanServer.setHost(wrapped)
}

/** Makes every step of `server` take `ms` longer. */
export function slowDown (server: SwarmServer, ms: number): void {
  cheat(server, async ({ honest }) => { await new Promise(resolve => setTimeout(resolve, ms)); return await honest() })
}

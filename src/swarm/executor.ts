/**
 * A SpanExecutor over the swarm: every session it opens is a chain session (chain.ts) routed through
 * servers that together cover every block, surviving hops that fail. It counts what /metrics shows.
 */
import type { ExecutorStats, ModelConfig, OpenOptions, RouteReason, SpanExecutor, SpanSession } from '../model/index.ts'
import type { FrameDType } from '../tensor/index.ts'
import { ChainSession } from './chain.ts'
import type { SwarmClient } from './client.ts'
import type { ChainWatcher } from './watch.ts'

export type RouteMode = 'push' | 'relay'

export interface ChainOptions {
  modelId: string
  config: ModelConfig
  /** default 'push' */
  mode?: RouteMode
  /** activations on the wire; default f32 (f16 halves the bytes but changes the numbers) */
  dtype?: FrameDType
  /**
   * A step through hops the client has timed must come back within stepTimeoutFactor × their
   * measured time (for its n tokens), and never less than minStepTimeoutMs; defaults 20 × and 5 s.
   * Through a hop not timed yet: stepTimeoutMs + n × tokenTimeoutMs, default 30 s + 1 s per token.
   */
  stepTimeoutMs?: number
  tokenTimeoutMs?: number
  minStepTimeoutMs?: number
  stepTimeoutFactor?: number
  /** how long to look for a replacement of a failed hop; default 60 s */
  recoverTimeoutMs?: number
  /** how long to keep looking while some blocks' servers are all gone; default 2 s (four times that if no server of them is known) */
  noRouteTimeoutMs?: number
  /** told about every route a session takes (for logs, tests and benchmarks) */
  onRoute?: (event: RouteEvent) => void
  /** looks into every session (verification) */
  watcher?: ChainWatcher
}

export interface RouteEvent {
  readonly session: string
  /**
   * open: the first route; failover: a hop was replaced; relay: pushing failed, the client relays
   * from now on; distrust: a hop's work was found wrong, it and the hops after it were rebuilt
   */
  readonly reason: RouteReason
  readonly hops: ReadonlyArray<{ readonly peer: string, readonly start: number, readonly end: number }>
}

export class SwarmExecutor implements SpanExecutor {
  readonly start = 0
  readonly end: number
  readonly modelId: string

  private sessions = 0
  private hopCount = 0
  private hopSeconds = 0
  private readonly routes: Record<RouteReason, number> = { open: 0, failover: 0, relay: 0, distrust: 0 }

  constructor (readonly client: SwarmClient, readonly options: ChainOptions) {
    this.modelId = options.modelId
    this.end = options.config.nLayers
    client.watch(this.modelId, this.end)
  }

  async open (sessionId: string, options: OpenOptions): Promise<SpanSession> {
    const session = await ChainSession.open(this, sessionId, options, () => { this.sessions-- })
    this.sessions++
    return session
  }

  /** A hop's time for one step: its compute plus the link into it. */
  recordHop (seconds: number): void {
    this.hopCount++
    this.hopSeconds += seconds
  }

  /** Counts a route a session took. */
  countRoute (reason: RouteReason): void {
    this.routes[reason]++
  }

  /** Not ready while some block has no server (as far as the last directory lookup knows). */
  health (): { ok: boolean, reason?: string } {
    const missing = this.client.uncovered(this.modelId, this.end)
    if (missing === undefined) {
      this.client.servers(this.modelId, this.end).catch(() => {}) // nothing looked up yet: start now
      return { ok: false, reason: 'looking up the servers of the model' }
    }
    return missing.length === 0 ? { ok: true } : { ok: false, reason: `no server for block${missing.length > 1 ? 's' : ''} ${missing.join(', ')}` }
  }

  stats (): ExecutorStats {
    const verification = this.options.watcher?.stats?.()
    return { openSessions: this.sessions, hops: { count: this.hopCount, sumSeconds: this.hopSeconds }, routes: { ...this.routes }, ...(verification !== undefined ? { verification } : {}) }
  }
}


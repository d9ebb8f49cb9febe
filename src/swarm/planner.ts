/**
 * Route planning: the chain of servers that minimizes the expected time per token through blocks
 * [start, end). Dijkstra over states (b, p) = "blocks before b are done and the hidden state sits on
 * server p". Costs in seconds:
 *   client → p            rtt(p) / 2 + HOP_OVERHEAD
 *   block b on p          p's time per block (observed if known, else from its announced throughput)
 *   p → q at a boundary   link(p, q) / 2 + HOP_OVERHEAD, plus CACHE_PENALTY if q lacks cache
 *                         (entering any server q: plus RELAYED_HOP if q is reachable only through a relay)
 *   p → client            rtt(p) / 2
 * Measurements beat claims: a server's announced throughput is only a prior, used until the client
 * has timed it, and never better than PRIOR_MAX_SPEEDUP × the fastest server it has timed; an
 * announced round trip between two servers is held to what the client's own round trips to both
 * allow (the triangle inequality: |rtt(p) − rtt(q)| ≤ link(p, q) ≤ rtt(p) + rtt(q)).
 * A pure function: everything it knows comes in the request.
 */
import { NoRouteError } from '../util/errors.ts'

export interface PlannerServer {
  readonly peer: string
  readonly start: number
  readonly end: number
  /** announced single-token steps per second through its whole span */
  readonly throughput: number
  readonly freeCacheTokens: number
  /** measured seconds per block per token, when the client has seen this server work */
  readonly observedBlockSeconds?: number
  /** announced round trips (ms) to other servers */
  readonly pings?: Readonly<Record<string, number>>
  /** 'relayed': behind NAT, reached through a relay; routes prefer direct servers */
  readonly reach?: 'direct' | 'relayed'
}

export interface PlanRequest {
  readonly start: number
  readonly end: number
  readonly servers: readonly PlannerServer[]
  /** client → server round trip in ms, if measured */
  readonly rttMs: (peer: string) => number | undefined
  readonly banned?: ReadonlySet<string>
  /** tokens of cache the session needs */
  readonly cacheTokens: number
}

/** how much faster than the fastest measured server an unmeasured one may claim to be */
export const PRIOR_MAX_SPEEDUP = 2

export interface PlannedHop {
  readonly peer: string
  readonly start: number
  readonly end: number
}

export interface Plan {
  readonly hops: readonly PlannedHop[]
  /** expected seconds per token */
  readonly cost: number
}

export const UNKNOWN_RTT_MS = 150
export const HOP_OVERHEAD_S = 0.002
export const CACHE_PENALTY_S = 10
/** what entering a relayed server costs on top: relayed data is a fallback, direct servers come first */
export const RELAYED_HOP_S = 0.05
/** time per block of a server that announced no throughput */
export const UNKNOWN_BLOCK_S = 300

/** Seconds per block: measured if the client has timed the server, else the claim, held to `floor`. */
export function serverBlockSeconds (s: PlannerServer, floor = 0): number {
  if (s.observedBlockSeconds !== undefined && s.observedBlockSeconds > 0) return s.observedBlockSeconds
  const claimed = s.throughput > 0 ? 1 / (s.throughput * (s.end - s.start)) : UNKNOWN_BLOCK_S
  return Math.max(claimed, floor)
}

export function planRoute (req: PlanRequest): Plan {
  const { start, end } = req
  if (!(Number.isInteger(start) && Number.isInteger(end) && start < end)) throw new NoRouteError(`nothing to route: blocks [${start}, ${end})`)
  const servers = req.servers.filter(s => req.banned?.has(s.peer) !== true && s.start < end && s.end > start)
  const P = servers.length
  const rtt = (peer: string): number => (req.rttMs(peer) ?? UNKNOWN_RTT_MS) / 1000
  const link = (p: PlannerServer, q: PlannerServer): number => {
    const claimed = p.pings?.[q.peer] ?? q.pings?.[p.peer]
    const [a, b] = [req.rttMs(p.peer), req.rttMs(q.peer)]
    if (claimed === undefined) return (rtt(p.peer) + rtt(q.peer)) / 2
    if (a === undefined || b === undefined) return claimed / 1000
    return Math.min(a + b, Math.max(Math.abs(a - b), claimed)) / 1000
  }
  const measured = servers.flatMap(s => s.observedBlockSeconds !== undefined && s.observedBlockSeconds > 0 ? [s.observedBlockSeconds] : [])
  const floor = measured.length > 0 ? Math.min(...measured) / PRIOR_MAX_SPEEDUP : 0
  const blockSeconds = (s: PlannerServer): number => serverBlockSeconds(s, floor)
  const penalty = (s: PlannerServer): number => (s.freeCacheTokens < req.cacheTokens ? CACHE_PENALTY_S : 0) + (s.reach === 'relayed' ? RELAYED_HOP_S : 0)
  const serves = (s: PlannerServer, b: number): boolean => s.start <= b && b < s.end

  // state index: (b - start) * P + p, for b in (start, end]
  const nStates = (end - start) * P
  const dist = new Float64Array(nStates).fill(Infinity)
  const prev = new Int32Array(nStates).fill(-1)
  const done = new Uint8Array(nStates)
  const id = (b: number, p: number): number => (b - start - 1) * P + p
  servers.forEach((s, p) => {
    if (serves(s, start)) { dist[id(start + 1, p)] = rtt(s.peer) / 2 + HOP_OVERHEAD_S + penalty(s) + blockSeconds(s); prev[id(start + 1, p)] = -1 }
  })
  for (;;) {
    let u = -1
    for (let i = 0; i < nStates; i++) if (done[i] === 0 && dist[i]! < Infinity && (u < 0 || dist[i]! < dist[u]!)) u = i
    if (u < 0) break
    done[u] = 1
    const b = start + 1 + Math.floor(u / P)
    const p = u % P
    if (b === end) continue
    servers.forEach((q, qi) => {
      if (!serves(q, b)) return
      const step = qi === p ? blockSeconds(q) : link(servers[p]!, q) / 2 + HOP_OVERHEAD_S + penalty(q) + blockSeconds(q)
      const v = id(b + 1, qi)
      if (dist[u]! + step < dist[v]!) { dist[v] = dist[u]! + step; prev[v] = u }
    })
  }
  let best = -1
  let bestCost = Infinity
  servers.forEach((s, p) => {
    const i = id(end, p)
    const cost = dist[i]! + rtt(s.peer) / 2
    if (cost < bestCost) { best = i; bestCost = cost }
  })
  if (best < 0) {
    const uncovered: number[] = []
    for (let b = start; b < end; b++) if (!servers.some(s => serves(s, b))) uncovered.push(b)
    throw new NoRouteError(uncovered.length > 0
      ? `no reachable server serves block${uncovered.length > 1 ? 's' : ''} ${uncovered.join(', ')}`
      : `no chain of servers covers blocks [${start}, ${end})`)
  }
  // walk back, merging consecutive blocks on the same server into hops
  const owners: number[] = []
  for (let i = best; i >= 0; i = prev[i]!) owners.push(i % P)
  owners.reverse() // owners[j] ran block start + j
  const hops: PlannedHop[] = []
  owners.forEach((p, j) => {
    const last = hops[hops.length - 1]
    if (last !== undefined && last.peer === servers[p]!.peer && last.end === start + j) hops[hops.length - 1] = { ...last, end: start + j + 1 }
    else hops.push({ peer: servers[p]!.peer, start: start + j, end: start + j + 1 })
  })
  return { hops, cost: bestCost }
}

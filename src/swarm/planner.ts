/**
 * Route planning: the chain of servers that minimizes the expected time per token through blocks
 * [start, end). A shortest path over states (b, p) = "blocks before b are done and the hidden state
 * sits on server p", layer by layer (every move goes from b to b + 1), over the few cheapest servers
 * of each block when there are thousands. Costs in seconds:
 *   client → p            rtt(p) / 2 + HOP_OVERHEAD
 *   block b on p          p's time per block (observed if known, else from its announced throughput),
 *                         times 1 + LOAD_COST × its sessions (those its record announced, plus the
 *                         client's own opened since): concurrent sessions spread over replicas
 *   p → q at a boundary   link(p, q) / 2 + HOP_OVERHEAD, plus CACHE_PENALTY if q lacks cache
 *                         (entering any server q: plus RELAYED_HOP if q is reachable only through a relay)
 *   p → client            rtt(p) / 2
 * Measurements beat claims: a server's announced throughput is only a prior, used until the client
 * has timed it, and never better than PRIOR_MAX_SPEEDUP × the fastest server it has timed; an
 * announced round trip between two servers is held to what the client's own round trips to both
 * allow (the triangle inequality: |rtt(p) − rtt(q)| ≤ link(p, q) ≤ rtt(p) + rtt(q)). A server's
 * time per block is multiplied by its trust factor (verification's reputation: 1 to 1.5).
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
  /** the client's trust in it as a cost factor (>= 1; 1 = a perfect record), from verification */
  readonly trustFactor?: number
  /** 'relayed': behind NAT, reached through a relay; routes prefer direct servers */
  readonly reach?: 'direct' | 'relayed'
  /** sessions open on it when it announced this */
  readonly sessions?: number
}

export interface PlanRequest {
  readonly start: number
  readonly end: number
  readonly servers: readonly PlannerServer[]
  /** client → server round trip in ms, if measured */
  readonly rttMs: (peer: string) => number | undefined
  /** servers routes must not use (anything with has(): a Set, or a lookup over several) */
  readonly banned?: { has: (peer: string) => boolean }
  /** tokens of cache the session needs */
  readonly cacheTokens: number
  /** measured seconds per block by peer, when not given on the servers themselves */
  readonly observedBlockSeconds?: (peer: string) => number | undefined
  /** trust factors by peer (>= 1), when not given on the servers themselves */
  readonly trustFactor?: (peer: string) => number | undefined
  /** sessions the client opened on a server since its record was issued (not counted in `sessions`) */
  readonly newSessions?: (peer: string) => number
  /** servers searched per block, the cheapest first (see candidates()); default 8, Infinity = all */
  readonly candidatesPerBlock?: number
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
export const CANDIDATES_PER_BLOCK = 8
/**
 * How much slower a server's steps get per session it holds. A batching server computes concurrent
 * sessions' steps together, so each costs less than a session alone (bench/batching.ts: 16
 * sessions at 1.4-3x one session's aggregate on one CPU thread, i.e. 0.3-0.7 per extra session,
 * and far less on a GPU); a moderate figure spreads sessions without sending them to a slow server.
 */
export const LOAD_COST = 0.25
/** sessions counted at most (a record's claim is bounded, whatever it says) */
const MAX_LOAD = 1024

/** Seconds per block: measured (`observed`) if the client has timed the server, else the claim, held to `floor`; times the trust factor. */
export function serverBlockSeconds (s: PlannerServer, floor = 0, observed = s.observedBlockSeconds, trustFactor = s.trustFactor): number {
  const trust = trustFactor !== undefined && trustFactor >= 1 ? trustFactor : 1
  if (observed !== undefined && observed > 0) return observed * trust
  const claimed = s.throughput > 0 ? 1 / (s.throughput * (s.end - s.start)) : UNKNOWN_BLOCK_S
  return Math.max(claimed, floor) * trust
}

export function planRoute (req: PlanRequest): Plan {
  const { start, end } = req
  if (!(Number.isInteger(start) && Number.isInteger(end) && start < end)) throw new NoRouteError(`nothing to route: blocks [${start}, ${end})`)
  const usable = req.servers.filter(s => req.banned?.has(s.peer) !== true && s.start < end && s.end > start)
  const rtt = (peer: string): number => (req.rttMs(peer) ?? UNKNOWN_RTT_MS) / 1000
  const link = (p: PlannerServer, q: PlannerServer): number => {
    const claimed = p.pings?.[q.peer] ?? q.pings?.[p.peer]
    const [a, b] = [req.rttMs(p.peer), req.rttMs(q.peer)]
    if (claimed === undefined) return (rtt(p.peer) + rtt(q.peer)) / 2
    if (a === undefined || b === undefined) return claimed / 1000
    return Math.min(a + b, Math.max(Math.abs(a - b), claimed)) / 1000
  }
  const observed = (s: PlannerServer): number | undefined => s.observedBlockSeconds ?? req.observedBlockSeconds?.(s.peer)
  let fastest = Infinity
  for (const s of usable) { const o = observed(s); if (o !== undefined && o > 0 && o < fastest) fastest = o }
  const floor = fastest < Infinity ? fastest / PRIOR_MAX_SPEEDUP : 0
  const blockSeconds = (s: PlannerServer): number => {
    const o = observed(s)
    const load = Math.min(MAX_LOAD, Math.max(0, (s.sessions ?? 0) + (req.newSessions?.(s.peer) ?? 0)))
    return serverBlockSeconds(s, floor, o, s.trustFactor ?? req.trustFactor?.(s.peer)) * (1 + LOAD_COST * load)
  }
  const penalty = (s: PlannerServer): number => (s.freeCacheTokens < req.cacheTokens ? CACHE_PENALTY_S : 0) + (s.reach === 'relayed' ? RELAYED_HOP_S : 0)
  const covering = new Int32Array(end - start + 1) // (blocks + 1) a difference array of how many servers cover each block
  for (const s of usable) { covering[Math.max(s.start, start) - start]!++; covering[Math.min(s.end, end) - start]!-- }
  const uncovered: number[] = []
  for (let b = start, n = 0; b < end; b++) { n += covering[b - start]!; if (n === 0) uncovered.push(b) }
  if (uncovered.length > 0) throw new NoRouteError(`no reachable server serves block${uncovered.length > 1 ? 's' : ''} ${uncovered.join(', ')}`)
  const costs = new Map(usable.map(s => [s, { block: blockSeconds(s), enter: rtt(s.peer) / 2 + HOP_OVERHEAD_S + penalty(s) }]))
  const servers = candidates(usable, start, end, req.candidatesPerBlock ?? CANDIDATES_PER_BLOCK,
    (s, b) => { const c = costs.get(s)!; return c.block + c.enter / (Math.min(s.end, end) - b) })
  const P = servers.length
  const perBlock = Float64Array.from(servers, s => costs.get(s)!.block)
  const entry = Float64Array.from(servers, s => HOP_OVERHEAD_S + penalty(s))
  const quarterRtt = Float64Array.from(servers, s => rtt(s.peer) / 4)
  // a link with no announced round trip costs (rtt(p) + rtt(q)) / 4, which splits into a part of
  // p and a part of q; only the announced links (a few per server) need pairs
  const index = new Map(servers.map((s, p) => [s.peer, p]))
  const announced = servers.map((): number[] => [])
  servers.forEach((s, p) => {
    for (const peer of Object.keys(s.pings ?? {})) {
      const q = index.get(peer)
      if (q === undefined || q === p) continue
      if (!announced[q]!.includes(p)) announced[q]!.push(p)
      if (!announced[p]!.includes(q)) announced[p]!.push(q)
    }
  })

  // every move goes from boundary b to b + 1, so the cheapest cost of each state (b, p) follows
  // from those at b - 1: a shortest path over a layered graph, one layer per block
  // state index: (b - start - 1) * P + p, for b in (start, end]: blocks before b done on p
  const dist = new Float64Array((end - start) * P).fill(Infinity)
  const prev = new Int32Array((end - start) * P).fill(-1)
  const id = (b: number, p: number): number => (b - start - 1) * P + p
  const at = Array.from({ length: end - start }, (): number[] => []) // (blocks) server indices serving each block
  servers.forEach((s, p) => { for (let b = Math.max(s.start, start); b < Math.min(s.end, end); b++) at[b - start]!.push(p) })
  for (const p of at[0]!) dist[id(start + 1, p)] = rtt(servers[p]!.peer) / 2 + entry[p]! + perBlock[p]!
  for (let b = start + 1; b < end; b++) {
    // the servers that ran block b - 1, cheapest to leave first (for links nobody announced)
    const from = at[b - start - 1]!.filter(p => dist[id(b, p)]! < Infinity)
    const leave = Float64Array.from(from, p => dist[id(b, p)]! + quarterRtt[p]!)
    const order = from.map((_, i) => i).sort((x, y) => leave[x]! - leave[y]!)
    for (const q of at[b - start]!) {
      let best = dist[id(b, q)]! // stays on q (Infinity unless q also ran block b - 1)
      let arg = best < Infinity ? id(b, q) : -1
      for (const i of order) { // the cheapest p whose link to q was not announced
        const p = from[i]!
        if (p === q || announced[q]!.includes(p)) continue
        const v = leave[i]! + quarterRtt[q]! + entry[q]!
        if (v < best) { best = v; arg = id(b, p) }
        break
      }
      for (const p of announced[q]!) {
        if (dist[id(b, p)]! === Infinity) continue
        const v = dist[id(b, p)]! + link(servers[p]!, servers[q]!) / 2 + entry[q]!
        if (v < best) { best = v; arg = id(b, p) }
      }
      dist[id(b + 1, q)] = best + perBlock[q]!
      prev[id(b + 1, q)] = arg
    }
  }
  let best = -1
  let bestCost = Infinity
  for (const p of at[end - start - 1]!) {
    const cost = dist[id(end, p)]! + rtt(servers[p]!.peer) / 2
    if (cost < bestCost) { best = id(end, p); bestCost = cost }
  }
  if (best < 0) throw new NoRouteError(`no chain of servers covers blocks [${start}, ${end})`)
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

/**
 * The servers worth searching: for each block, the `k` cheapest serving it by `score` (its time
 * per block plus what entering it costs, spread over the blocks it could run from there). Exact
 * for small swarms (all kept); keeps planning in milliseconds with thousands of servers.
 */
function candidates (servers: readonly PlannerServer[], start: number, end: number, k: number, score: (s: PlannerServer, block: number) => number): PlannerServer[] {
  if (servers.length <= k) return [...servers]
  // per block, the k best so far, kept sorted: (blocks, k) scores and server indices
  const blocks = end - start
  const best = new Float64Array(blocks * k).fill(Infinity)
  const who = new Int32Array(blocks * k).fill(-1)
  servers.forEach((s, i) => {
    for (let b = Math.max(s.start, start); b < Math.min(s.end, end); b++) {
      const v = score(s, b)
      const row = (b - start) * k
      if (v >= best[row + k - 1]!) continue
      let j = k - 1
      for (; j > 0 && best[row + j - 1]! > v; j--) { best[row + j] = best[row + j - 1]!; who[row + j] = who[row + j - 1]! }
      best[row + j] = v
      who[row + j] = i
    }
  })
  const keep = new Uint8Array(servers.length)
  for (const i of who) if (i >= 0) keep[i] = 1
  return servers.filter((_, i) => keep[i] === 1)
}

import { test } from 'node:test'
import assert from 'node:assert/strict'
import { NoRouteError } from '../util/errors.ts'
import { CACHE_PENALTY_S, type PlannerServer, planRoute } from './planner.ts'

const server = (peer: string, start: number, end: number, throughput: number, more: Partial<PlannerServer> = {}): PlannerServer =>
  ({ peer, start, end, throughput, freeCacheTokens: 10_000, ...more })
const rtt = (table: Record<string, number> = {}) => (peer: string): number | undefined => table[peer] ?? 1

test('prefers the faster chain', () => {
  const servers = [
    server('slowA', 0, 3, 2), server('slowB', 3, 6, 2),
    server('fastA', 0, 3, 20), server('fastB', 3, 6, 20)
  ]
  const plan = planRoute({ start: 0, end: 6, servers, rttMs: rtt(), cacheTokens: 100 })
  assert.deepEqual(plan.hops, [{ peer: 'fastA', start: 0, end: 3 }, { peer: 'fastB', start: 3, end: 6 }])
  // compute 2 × 1/20 s, two half round trips in and out plus one between servers, small overheads
  assert.ok(plan.cost > 0.1 && plan.cost < 0.11, `cost ${plan.cost}`)
})

test('one server for the whole model beats two hops of the same speed', () => {
  const servers = [server('a', 0, 4, 10), server('b', 4, 8, 10), server('whole', 0, 8, 5)]
  const plan = planRoute({ start: 0, end: 8, servers, rttMs: rtt({ a: 40, b: 40, whole: 40 }), cacheTokens: 1 })
  assert.deepEqual(plan.hops, [{ peer: 'whole', start: 0, end: 8 }])
})

test('a far server loses to a near one of the same speed', () => {
  const servers = [server('far', 0, 4, 10), server('near', 0, 4, 10)]
  const plan = planRoute({ start: 0, end: 4, servers, rttMs: rtt({ far: 200, near: 5 }), cacheTokens: 1 })
  assert.equal(plan.hops[0]!.peer, 'near')
})

test('measured speed overrides the announced one', () => {
  const servers = [server('boasts', 0, 4, 100, { observedBlockSeconds: 0.5 }), server('honest', 0, 4, 10)]
  const plan = planRoute({ start: 0, end: 4, servers, rttMs: rtt(), cacheTokens: 1 })
  assert.equal(plan.hops[0]!.peer, 'honest')
})

test('avoids a server short of cache, but uses it when nothing else serves the block', () => {
  const servers = [server('full', 0, 4, 50, { freeCacheTokens: 10 }), server('roomy', 0, 4, 5)]
  const plan = planRoute({ start: 0, end: 4, servers, rttMs: rtt(), cacheTokens: 512 })
  assert.equal(plan.hops[0]!.peer, 'roomy')
  const only = planRoute({ start: 0, end: 4, servers: [servers[0]!], rttMs: rtt(), cacheTokens: 512 })
  assert.equal(only.hops[0]!.peer, 'full')
  assert.ok(only.cost > CACHE_PENALTY_S)
})

test('re-plans around a banned peer', () => {
  const servers = [server('a', 0, 2, 10), server('b1', 2, 4, 30), server('b2', 2, 4, 10), server('c', 4, 5, 10)]
  const first = planRoute({ start: 0, end: 5, servers, rttMs: rtt(), cacheTokens: 1 })
  assert.deepEqual(first.hops.map(h => h.peer), ['a', 'b1', 'c'])
  const again = planRoute({ start: 2, end: 4, servers, rttMs: rtt(), cacheTokens: 1, banned: new Set(['b1']) })
  assert.deepEqual(again.hops, [{ peer: 'b2', start: 2, end: 4 }])
})

test('uses part of a server\'s span when spans overlap', () => {
  const servers = [server('a', 0, 3, 10), server('b', 2, 5, 10)]
  const plan = planRoute({ start: 0, end: 5, servers, rttMs: rtt(), cacheTokens: 1 })
  assert.equal(plan.hops.length, 2)
  assert.equal(plan.hops[0]!.start, 0)
  assert.equal(plan.hops[0]!.end, plan.hops[1]!.start)
  assert.equal(plan.hops[1]!.end, 5)
  // a sub-range of the model
  assert.deepEqual(planRoute({ start: 3, end: 5, servers, rttMs: rtt(), cacheTokens: 1 }).hops, [{ peer: 'b', start: 3, end: 5 }])
})

test('an uncovered block is a NoRouteError naming it', () => {
  const servers = [server('a', 0, 2, 10), server('c', 3, 5, 10)]
  assert.throws(() => planRoute({ start: 0, end: 5, servers, rttMs: rtt(), cacheTokens: 1 }), (err: unknown) => err instanceof NoRouteError && /block 2\b/.test(err.message))
  assert.throws(() => planRoute({ start: 0, end: 2, servers, rttMs: rtt(), cacheTokens: 1, banned: new Set(['a']) }), NoRouteError)
})

test('a claimed throughput is a prior: once timed, the measurement decides, and no claim beats twice the fastest timed server', () => {
  const honest = server('honest', 0, 4, 100, { observedBlockSeconds: 0.004 })
  // claims a million steps per second; untimed, it may claim at most 2x the fastest timed server
  const liar = server('liar', 0, 4, 1e6)
  const claims = planRoute({ start: 0, end: 4, servers: [honest, liar], rttMs: rtt({ honest: 5, liar: 5 }), cacheTokens: 1 })
  assert.ok(Math.abs(claims.cost - (0.005 + 0.002 + 4 * 0.002)) < 1e-9, `cost ${claims.cost}: the liar is held to 2 ms per block`)
  const timed = planRoute({ start: 0, end: 4, servers: [honest, { ...liar, observedBlockSeconds: 0.04 }], rttMs: rtt({ honest: 5, liar: 5 }), cacheTokens: 1 })
  assert.equal(timed.hops[0]!.peer, 'honest')
})

test('an announced round trip between servers is held to what the client\'s own round trips allow', () => {
  // the client sees a, c and d 5 ms away and far 205 ms away: far is at least 200 ms from each of them
  const servers = [
    server('a', 0, 2, 100), server('d', 4, 6, 100),
    server('far', 2, 4, 1000, { pings: { a: 0, d: 0 } }), // claims to sit next to both, and to be fast
    server('c', 2, 4, 90)
  ]
  const plan = planRoute({ start: 0, end: 6, servers, rttMs: rtt({ a: 5, far: 205, c: 5, d: 5 }), cacheTokens: 1 })
  assert.deepEqual(plan.hops.map(h => h.peer), ['a', 'c', 'd'])
})

test('prefers a direct server to a relayed one, and uses a relayed one when it is the only one', () => {
  const servers = [server('relayed', 0, 4, 10, { reach: 'relayed' }), server('direct', 0, 4, 10, { reach: 'direct' }), server('onlyB', 4, 6, 10, { reach: 'relayed' })]
  const plan = planRoute({ start: 0, end: 6, servers, rttMs: rtt(), cacheTokens: 1 })
  assert.deepEqual(plan.hops.map(h => h.peer), ['direct', 'onlyB'])
})

/** The plain search over every pair of servers at every boundary: the reference for the layered one. */
function naiveCost (servers: PlannerServer[], start: number, end: number, rttMs: (p: string) => number | undefined): number {
  const rtt = (p: string): number => (rttMs(p) ?? 150) / 1000
  const link = (p: PlannerServer, q: PlannerServer): number => {
    const claimed = p.pings?.[q.peer] ?? q.pings?.[p.peer]
    const [a, b] = [rttMs(p.peer), rttMs(q.peer)]
    if (claimed === undefined) return (rtt(p.peer) + rtt(q.peer)) / 2
    if (a === undefined || b === undefined) return claimed / 1000
    return Math.min(a + b, Math.max(Math.abs(a - b), claimed)) / 1000
  }
  const sec = (s: PlannerServer): number => 1 / (s.throughput * (s.end - s.start))
  let dist = new Map<PlannerServer, number>()
  for (const s of servers) if (s.start <= start && start < s.end) dist.set(s, rtt(s.peer) / 2 + 0.002 + sec(s))
  for (let b = start + 1; b < end; b++) {
    const next = new Map<PlannerServer, number>()
    for (const q of servers) {
      if (!(q.start <= b && b < q.end)) continue
      let best = Infinity
      for (const [p, d] of dist) best = Math.min(best, p === q ? d + sec(q) : d + link(p, q) / 2 + 0.002 + sec(q))
      if (best < Infinity) next.set(q, best)
    }
    dist = next
  }
  return Math.min(...[...dist].map(([p, d]) => d + rtt(p.peer) / 2))
}

test('the layered search finds the cheapest chain, and with thousands of servers the pruned one stays within 2 % of it', () => {
  let seed = 7
  const random = (): number => { seed = (seed * 1103515245 + 12345) % 2 ** 31; return seed / 2 ** 31 }
  for (const n of [12, 40, 2000]) {
    const servers: PlannerServer[] = Array.from({ length: n }, (_, i) => {
      const length = 1 + Math.floor(random() * 6)
      const start = Math.floor(random() * (24 - length + 1))
      return server(`s${i}`, start, start + length, 1 + random() * 50)
    })
    for (let b = 0; b < 24; b++) servers.push(server(`cover${b}`, b, b + 1, 0.5)) // every block covered
    for (const s of servers.slice(0, 30)) (s as { pings?: Record<string, number> }).pings = { [`s${Math.floor(random() * n)}`]: random() * 300 }
    const rtts = new Map(servers.filter(() => random() < 0.8).map(s => [s.peer, 5 + random() * 200]))
    const rttMs = (p: string): number | undefined => rtts.get(p)
    const reference = naiveCost(servers, 0, 24, rttMs)
    const exact = planRoute({ start: 0, end: 24, servers, rttMs, cacheTokens: 1, candidatesPerBlock: Infinity })
    assert.ok(Math.abs(exact.cost - reference) < 1e-9, `n=${n}: ${exact.cost} vs ${reference}`)
    const pruned = planRoute({ start: 0, end: 24, servers, rttMs, cacheTokens: 1 })
    assert.ok(pruned.cost <= reference * 1.02, `n=${n}: pruned ${pruned.cost} vs ${reference}`)
  }
})

test('load spreads sessions over replicas: announced sessions, then the client\'s own since the record', () => {
  const servers = [server('a', 0, 4, 10), server('b', 0, 4, 10, { sessions: 4 })]
  assert.equal(planRoute({ start: 0, end: 4, servers, rttMs: rtt(), cacheTokens: 1 }).hops[0]!.peer, 'a')
  // sessions this client opened since the records: each plan sees the ones before it
  const mine = new Map<string, number>()
  const picks: string[] = []
  for (let i = 0; i < 10; i++) {
    const peer = planRoute({ start: 0, end: 4, servers, rttMs: rtt(), cacheTokens: 1, newSessions: p => mine.get(p) ?? 0 }).hops[0]!.peer
    mine.set(peer, (mine.get(peer) ?? 0) + 1)
    picks.push(peer)
  }
  // a takes the first four (b already holds four), then they alternate: 7 and 7 in the end
  assert.deepEqual(picks.slice(0, 4), ['a', 'a', 'a', 'a'])
  assert.equal(mine.get('a'), 7)
  assert.equal(mine.get('b'), 3)
})

test('a much faster server keeps its sessions under moderate load; an absurd claimed load is bounded', () => {
  const fast = server('fast', 0, 4, 100, { sessions: 8 }) // 10x faster, 3x slower for its load
  assert.equal(planRoute({ start: 0, end: 4, servers: [fast, server('slow', 0, 4, 10)], rttMs: rtt(), cacheTokens: 1 }).hops[0]!.peer, 'fast')
  const plan = planRoute({ start: 0, end: 4, servers: [server('busy', 0, 4, 10, { sessions: Number.MAX_SAFE_INTEGER })], rttMs: rtt(), cacheTokens: 1 })
  assert.ok(Number.isFinite(plan.cost) && plan.cost < 1e4, `cost ${plan.cost}`)
})

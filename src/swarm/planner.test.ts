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

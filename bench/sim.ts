/**
 * The swarm's logic at scale, in one process: 10,000 servers and 1,000 clients over a simulated
 * network (bench/sim-net.ts: per-link round trips, a DHT that returns k providers per lookup,
 * deaths that close connections). What runs is the real code: servers choose their blocks with
 * chooseStart() from what the real Directory reads, reconsider with rebalance(); clients are real
 * SwarmClients (directory lookups, round trips, bans by cause, liveness) planning with planRoute();
 * a server full of sessions refuses with CACHE_BUDGET_EXCEEDED and the client re-plans around it,
 * as a chain session's setup does; after 20 % of the servers die, each client whose session lost a
 * hop sees the disconnect, probes, and plans a replacement over that hop's blocks. Not simulated:
 * the tensors (no compute) and the span streams.
 *
 * Prints one JSON line: route planning p50/p99 (target p50 < 5 ms), against the exact search on
 * the same views (the reference: how much costlier the pruned plans are, and how much slower the
 * exact search is), share of blocks covered after 20 % churn and after rebalancing, failovers that
 * found a route, and load imbalance (sessions per server, max / mean).
 *
 * Usage: node --import ./bin/polyfill.mjs --import tsx bench/sim.ts [--servers N] [--clients N] [--blocks N] [--seed S]
 */
import { parseArgs } from 'node:util'
import type { NetNode } from '../src/net/index.ts'
import { Directory, SwarmClient, type ServerInfo, type ServerRecord, chooseStart, encodeRecord, planRoute, rebalance } from '../src/swarm/index.ts'
import { CacheBudgetError, NetworkError } from '../src/util/errors.ts'
import { SimWorld, rng } from './sim-net.ts'

const { values: args } = parseArgs({ options: { servers: { type: 'string' }, clients: { type: 'string' }, blocks: { type: 'string' }, seed: { type: 'string' } } })
const N_SERVERS = Number(args.servers ?? 10_000)
const N_CLIENTS = Number(args.clients ?? 1000)
const N_LAYERS = Number(args.blocks ?? 80)
const SESSIONS_PER_CLIENT = 3
const CACHE_TOKENS = 2048
const MODEL = 'sim-model'
const random = rng(Number(args.seed ?? 1))
const world = new SimWorld(random)
const t0 = performance.now()

interface SimServer { record: ServerRecord, capacity: number, sessions: number }
const servers = new Map<string, SimServer>()

function announce (peer: string, start: number, end: number, throughput: number, capacity: number, old?: ServerRecord): void {
  const now = Date.now()
  const record: ServerRecord = {
    v: 1, peer, name: '', model: MODEL, modelName: 'sim', nLayers: N_LAYERS, start, end, state: 'online', throughput,
    freeCacheTokens: Math.max(0, capacity - (servers.get(peer)?.sessions ?? 0)) * CACHE_TOKENS, version: 'sim', addrs: [], reach: random() < 0.2 ? 'relayed' : 'direct', pings: {}, issuedAt: now, expiresAt: now + 120_000
  }
  if (old !== undefined) for (let b = old.start; b < old.end; b++) world.unprovide(`model/${MODEL}/block/${b}`, peer)
  world.records.set(peer, encodeRecord(record))
  for (let b = start; b < end; b++) world.provide(`model/${MODEL}/block/${b}`, peer)
  const s = servers.get(peer)
  if (s === undefined) servers.set(peer, { record, capacity, sessions: 0 })
  else s.record = record
}

/** What a peer's Directory reads of the swarm now (a real lookup over the simulated DHT). */
async function view (): Promise<ServerInfo[]> {
  return await new Directory(world.node()).servers(MODEL, N_LAYERS)
}

// 1. servers join in waves; each wave reads the directory once, and each joiner also sees those before it
const WAVE = 20
for (let joined = 0; joined < N_SERVERS; joined += WAVE) {
  const others: Array<{ start: number, end: number, throughput: number }> = await view()
  for (let i = 0; i < Math.min(WAVE, N_SERVERS - joined); i++) {
    const node = world.node()
    const length = 4 + Math.floor(random() * 13) // 4..16 blocks
    const throughput = Math.exp(random() * 2.5) / length // a long tail of fast machines
    const guess = others.length > 0 ? Math.min(...others.map(o => o.throughput)) : 1
    const start = chooseStart(N_LAYERS, length, guess, others)
    announce(node.peerId, start, start + length, throughput, 4 + Math.floor(random() * 28)) // sessions of 2,048 tokens it has cache for
    others.push({ start, end: start + length, throughput })
  }
}
const joinSeconds = (performance.now() - t0) / 1000
const note = (what: string): void => { process.stderr.write(`[${((performance.now() - t0) / 1000).toFixed(0)} s] ${what}\n`) }
note(`${N_SERVERS} servers joined`)

// 2. clients look the swarm up and open sessions, re-planning around full servers
const clients: SwarmClient[] = []
for (let i = 0; i < N_CLIENTS; i++) {
  const client = SwarmClient.attach(world.node() as unknown as NetNode, { directoryTtlMs: 3600_000 }, true)
  await client.servers(MODEL, N_LAYERS)
  clients.push(client)
}
await new Promise(resolve => setImmediate(resolve)) // round trips measured in the background
note(`${N_CLIENTS} clients looked the swarm up`)

const planMs: number[] = []
function timedPlan (client: SwarmClient, start: number, end: number, exclude?: ReadonlySet<string>): ReturnType<SwarmClient['plan']> {
  const t = performance.now()
  try {
    return client.plan(MODEL, start, end, CACHE_TOKENS, exclude)
  } finally {
    planMs.push(performance.now() - t)
  }
}

interface Session { client: SwarmClient, hops: Array<{ peer: string, start: number, end: number }> }
const sessions: Session[] = []
let refusals = 0
let attempts = 0
let routeCalls = 0
let noRouteSeen = 0
/** Opens a route over [start, end) the way a chain session sets one up: plan, open every hop, re-plan around failures. */
function openRoute (client: SwarmClient, start: number, end: number, exclude: ReadonlySet<string> = new Set()): Session['hops'] | undefined {
  routeCalls++
  // a chain session keeps trying for recoverTimeoutMs (60 s); each refusal costs about a round trip
  for (let attempt = 0; attempt < 300; attempt++) {
    attempts++
    let plan
    try { plan = timedPlan(client, start, end, exclude) } catch (err) { if (noRouteSeen++ < 3) note(`no route after ${attempt} attempts: ${(err as Error).message}`); return undefined }
    const failed = plan.hops.find(h => {
      const s = servers.get(h.peer)!
      if (!world.alive.has(h.peer)) { client.penalize(MODEL, h.peer, new NetworkError('PEER_UNREACHABLE', 'gone')); return true }
      if (s.sessions >= s.capacity) { refusals++; client.penalize(MODEL, h.peer, new CacheBudgetError('full', { retryAfterMs: 60_000 })); return true }
      return false
    })
    if (failed !== undefined) continue
    for (const h of plan.hops) { servers.get(h.peer)!.sessions++; void client.node.ping({ id: h.peer, addrs: [] }) }
    return plan.hops.map(h => ({ ...h }))
  }
  if (noRouteSeen++ < 3) note(`no route after 300 attempts`)
  return undefined
}
/** Every live server's periodic re-announce: the same span, a fresh expiry, the cache it has left now. */
function reannounce (): void {
  for (const [peer, s] of servers) {
    if (!world.alive.has(peer)) continue
    const r = s.record
    announce(peer, r.start, r.end, r.throughput, s.capacity, r)
  }
}
// sessions arrive over time: CLIENTS_PER_PERIOD of them per announce period (60 s), so each wave of
// clients reads records at most one period old (a client refreshes its view before it opens a
// session, as its directory's 30 s TTL makes it do), and learns the rest from refusals
const CLIENTS_PER_PERIOD = 100
let opened = 0
for (let round = 0; round < SESSIONS_PER_CLIENT; round++) {
  for (let i = 0; i < clients.length; i++) {
    if (i % CLIENTS_PER_PERIOD === 0) { if (i > 0 || round > 0) note(`round ${round + 1}: ${i} clients, ${opened} sessions, ${refusals} refusals`); reannounce() }
    const client = clients[i]!
    if (round > 0 || i >= CLIENTS_PER_PERIOD) await client.servers(MODEL, N_LAYERS, { refresh: true })
    const hops = openRoute(client, 0, N_LAYERS)
    if (hops !== undefined) { sessions.push({ client, hops }); opened++ }
  }
}
const openPlanMs = [...planMs]
note(`${opened} sessions opened`)

// the reference: the exact search (every server a candidate) on the same views
const exact: number[] = []
const costRatio: number[] = []
for (const client of clients.slice(0, 50)) {
  const pruned = client.plan(MODEL, 0, N_LAYERS, CACHE_TOKENS)
  const view = client.servers(MODEL, N_LAYERS)
  const list = await view
  const t = performance.now()
  const full = planRoute({ start: 0, end: N_LAYERS, servers: list, rttMs: () => undefined, banned: client.banned(), cacheTokens: CACHE_TOKENS, candidatesPerBlock: Infinity })
  exact.push(performance.now() - t)
  void full
  // compare both searches on equal terms: the same round trips the client uses
  const rtt = (peer: string): number | undefined => (client as unknown as { rtts: Map<string, number> }).rtts.get(peer)
  const a = planRoute({ start: 0, end: N_LAYERS, servers: list, rttMs: rtt, banned: client.banned(), cacheTokens: CACHE_TOKENS })
  const b = planRoute({ start: 0, end: N_LAYERS, servers: list, rttMs: rtt, banned: client.banned(), cacheTokens: CACHE_TOKENS, candidatesPerBlock: Infinity })
  costRatio.push(a.cost / b.cost)
  void pruned
}

note('exact searches done')

// 3. churn: 20 % of the servers die; clients holding connections see it; hops on dead servers fail over
const peers = [...servers.keys()]
const dead = new Set<string>()
while (dead.size < Math.round(0.2 * peers.length)) dead.add(peers[Math.floor(random() * peers.length)]!)
for (const p of dead) { world.kill(p); servers.get(p)!.sessions = 0 }
await new Promise(resolve => setTimeout(resolve, 10)) // liveness probes run
const covered = (): number => {
  const live = new Uint8Array(N_LAYERS)
  for (const [p, s] of servers) if (!dead.has(p)) for (let b = s.record.start; b < s.record.end; b++) live[b] = 1
  return live.reduce((a, b) => a + b, 0) / N_LAYERS
}
const coverageAfterChurn = covered()
let lostHops = 0
let failedOver = 0
const failoverPlanStart = planMs.length
// the survivors re-announce each period (the first at once, in the loop); each client's view is kept fresh by its watch (every 30 s)
const refreshed = new Set<SwarmClient>()
for (const [n, session] of sessions.entries()) {
  if (n % (CLIENTS_PER_PERIOD * SESSIONS_PER_CLIENT) === 0) { reannounce(); refreshed.clear() }
  if (!refreshed.has(session.client)) { refreshed.add(session.client); await session.client.servers(MODEL, N_LAYERS, { refresh: true }) }
  for (let i = 0; i < session.hops.length; i++) {
    const hop = session.hops[i]!
    if (!dead.has(hop.peer)) continue
    lostHops++
    const fresh = openRoute(session.client, hop.start, hop.end, new Set([hop.peer]))
    if (fresh !== undefined) { failedOver++; session.hops.splice(i, 1, ...fresh); i += fresh.length - 1 }
  }
}
const failoverPlanMs = planMs.slice(failoverPlanStart)
note(`${failedOver} of ${lostHops} lost hops failed over`)

// 4. rebalancing: every live server reconsiders once, reading the directory as it would
const live = peers.filter(p => !dead.has(p))
let moves = 0
reannounce()
let snapshot = await view()
for (let i = 0; i < live.length; i++) {
  if (i % 200 === 0) snapshot = await view()
  const s = servers.get(live[i]!)!
  const r = s.record
  const self = { start: r.start, end: r.end, throughput: r.throughput }
  const d = rebalance(N_LAYERS, self, snapshot.filter(o => o.peer !== r.peer))
  if (!d.move) continue
  moves++
  announce(r.peer, d.start, d.start + (r.end - r.start), r.throughput, s.capacity, r)
}
const coverageAfterRebalance = covered()

const liveLoads = live.map(p => servers.get(p)!.sessions)
const mean = liveLoads.reduce((a, b) => a + b, 0) / liveLoads.length
const pct = (xs: number[], q: number): number => { const s = [...xs].sort((a, b) => a - b); return s[Math.min(s.length - 1, Math.floor(q * s.length))]! }
const r3 = (x: number): number => Math.round(x * 1000) / 1000
const meanOf = (xs: number[]): number => xs.reduce((a, b) => a + b, 0) / xs.length
const viewSize = meanOf(await Promise.all(clients.slice(0, 20).map(async c => (await c.servers(MODEL, N_LAYERS)).length)))
for (const c of clients) await c.stop()

console.log(JSON.stringify({
  bench: 'sim',
  servers: N_SERVERS,
  clients: N_CLIENTS,
  blocks: N_LAYERS,
  servers_per_client_view: Math.round(viewSize),
  sessions_opened: opened,
  sessions_wanted: N_CLIENTS * SESSIONS_PER_CLIENT,
  refusals_replanned: refusals,
  plans_per_route: r3(attempts / routeCalls),
  plan_p50_ms: r3(pct(openPlanMs, 0.5)),
  plan_p99_ms: r3(pct(openPlanMs, 0.99)),
  exact_plan_p50_ms: r3(pct(exact, 0.5)),
  pruned_vs_exact_cost_ratio_mean: r3(meanOf(costRatio)),
  pruned_vs_exact_cost_ratio_max: r3(Math.max(...costRatio)),
  failover_plan_p50_ms: failoverPlanMs.length > 0 ? r3(pct(failoverPlanMs, 0.5)) : null,
  churn_killed: dead.size,
  coverage_after_churn: r3(coverageAfterChurn),
  hops_lost: lostHops,
  hops_failed_over: failedOver,
  rebalance_moves: moves,
  coverage_after_rebalance: r3(coverageAfterRebalance),
  load_imbalance_max_mean: r3(Math.max(...liveLoads) / mean),
  servers_with_sessions: r3(liveLoads.filter(x => x > 0).length / liveLoads.length),
  join_s: Math.round(joinSeconds),
  elapsed_s: Math.round((performance.now() - t0) / 1000)
}))

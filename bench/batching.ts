/**
 * Batching on a span server: aggregate decode steps per second of 1, 4, 16 and 32 sessions stepping
 * at once through all 30 blocks of the 135M shape, with batching on (the default) and off
 * (--batch-rows 1), rounds interleaved. Each session sends one row, waits for its output and sends
 * the next, as decoding does. One JSON line per case:
 *   {"bench":"batching","where":"executor","dtype":"q8_0","sessions":16,"tok_s":…,"unbatched_tok_s":…,
 *    "ratio":…,"vs_one_session":…,"mean_batch":…}
 * ratio = batched / unbatched at that many sessions; vs_one_session = batched aggregate / one
 * session's (batched) aggregate: the target is >= 6 at 16 sessions.
 *   where=executor  the span in this process (LocalSpanExecutor): the compute alone
 *   where=server    a `gridllm serve` process (its own process group) and the sessions over libp2p
 *                   from this one (SwarmExecutor, hidden states only: no embedding or head here)
 * Options: --where executor,server --types q8_0,f32 --sessions 1,4,16,32 --seconds 3 --rounds 2 --threads 1
 */
import { parseArgs } from 'node:util'
import { createBackend } from '../src/kernels/index.ts'
import { LocalSpanExecutor, type SpanExecutor, openModel } from '../src/model/index.ts'
import { SHAPE_135M } from '../src/model/synthetic.ts'
import { loadSwarmModel } from '../src/swarm/index.ts'
import { type ServerProcess, startServer, stopServers } from '../test/swarm/harness.ts'
import { best } from './measure.ts'
import { BENCH_MODELS, ensureBenchModel } from './models.ts'

const { values: opts } = parseArgs({
  options: {
    where: { type: 'string', default: 'executor,server' },
    types: { type: 'string', default: 'q8_0,f32' },
    sessions: { type: 'string', default: '1,4,16,32' },
    seconds: { type: 'string', default: '3' },
    rounds: { type: 'string', default: '2' },
    threads: { type: 'string', default: '1' }
  }
})
const list = (s: string): string[] => s.split(',').map(x => x.trim()).filter(x => x !== '')
const counts = list(opts.sessions).map(Number)
const seconds = Number(opts.seconds)
const rounds = Number(opts.rounds)
const threads = Number(opts.threads)
const log = (msg: string): void => { process.stderr.write(`[bench] ${msg}\n`) }

/** Steps per second of `n` sessions each decoding on its own (await one step, send the next) for about `seconds`. */
async function aggregate (executor: SpanExecutor, n: number, dim: number): Promise<{ tokS: number }> {
  const maxLength = 256
  const sessions = await Promise.all(Array.from({ length: n }, async (_, i) => await executor.open(`bench-${n}-${i}-${Math.random()}`, { maxLength })))
  try {
    const hidden = Float32Array.from({ length: dim }, (_, i) => Math.sin(i) * 0.5) // (1, dim)
    await Promise.all(sessions.map(async s => await s.forward(hidden, [0]))) // warm-up
    const t0 = performance.now()
    let steps = 0
    await Promise.all(sessions.map(async s => {
      while (performance.now() - t0 < seconds * 1000 && s.length < maxLength) {
        await s.forward(hidden, [s.length])
        steps++
      }
    }))
    return { tokS: steps / ((performance.now() - t0) / 1000) }
  } finally {
    await Promise.all(sessions.map(async s => { await s.close() }))
  }
}

interface Variant {
  readonly batched: SpanExecutor
  readonly unbatched: SpanExecutor
  /** forwards and steps the batched side ran so far (mean batch = steps / forwards), where known */
  readonly batches: () => { forwards: number, steps: number } | undefined
  close (): Promise<void>
}

async function inProcess (path: string): Promise<Variant> {
  const source = await openModel(path)
  const backend = await createBackend('wasm', { threads })
  const load = async (maxRows: number): Promise<LocalSpanExecutor> => await LocalSpanExecutor.load(source, backend, { start: 0, end: source.config.nLayers, batch: { maxRows } })
  const [batched, unbatched] = [await load(64), await load(1)]
  return {
    batched,
    unbatched,
    batches: () => ({ forwards: batched.batcher.forwards, steps: batched.batcher.steps }),
    close: async () => { await batched.close(); await unbatched.close(); backend.dispose() }
  }
}

async function overLibp2p (path: string, servers: ServerProcess[]): Promise<Variant> {
  const serve = async (rows: number): Promise<ServerProcess> => {
    const s = await startServer(path, ['--blocks', '0:30', '--threads', String(threads), '--batch-rows', String(rows), '--max-sessions-per-peer', '64', '--cache-mib', '2048'], { timeoutMs: 300_000, detached: true })
    servers.push(s)
    return s
  }
  const [on, off] = [await serve(64), await serve(1)]
  // one client per server, each bootstrapped only to its own (a private swarm of one server each)
  const [a, b] = [await loadSwarmModel(path, { bootstrap: [on.addr] }), await loadSwarmModel(path, { bootstrap: [off.addr] })]
  return {
    batched: a.executors[0]!,
    unbatched: b.executors[0]!,
    batches: () => undefined,
    close: async () => { await a.close(); await b.close() }
  }
}

const servers: ServerProcess[] = []
const stop = (): void => { void stopServers(servers).finally(() => process.exit(130)) }
process.on('SIGINT', stop)
process.on('SIGTERM', stop)
try {
  for (const type of list(opts.types)) {
    const path = BENCH_MODELS + await ensureBenchModel('135M', SHAPE_135M, type as 'f32', log)
    for (const where of list(opts.where)) {
      log(`${where}, ${type}: loading`)
      const variant = where === 'server' ? await overLibp2p(path, servers) : await inProcess(path)
      try {
        const results = new Map<number, { on: number[], off: number[], mean: number }>()
        for (let r = 0; r < rounds; r++) {
          for (const n of counts) {
            // the order alternates between rounds, so neither side always runs first
            const off0 = r % 2 === 1 ? await aggregate(variant.unbatched, n, SHAPE_135M.dim) : undefined
            const before = variant.batches()
            const on = await aggregate(variant.batched, n, SHAPE_135M.dim)
            const after = variant.batches()
            const off = off0 ?? await aggregate(variant.unbatched, n, SHAPE_135M.dim)
            const entry = results.get(n) ?? { on: [], off: [], mean: NaN }
            entry.on.push(on.tokS)
            entry.off.push(off.tokS)
            if (before !== undefined && after !== undefined) entry.mean = (after.steps - before.steps) / Math.max(1, after.forwards - before.forwards)
            results.set(n, entry)
            log(`${where} ${type} round ${r + 1}: ${n} sessions ${on.tokS.toFixed(1)} tok/s batched, ${off.tokS.toFixed(1)} unbatched`)
          }
        }
        const one = best(results.get(counts[0]!)!.on)
        for (const n of counts) {
          const { on, off, mean } = results.get(n)!
          console.log(JSON.stringify({
            bench: 'batching', where, model: 'synthetic-135M', dtype: type, threads, sessions: n,
            tok_s: +best(on).toFixed(2), unbatched_tok_s: +best(off).toFixed(2), ratio: +(best(on) / best(off)).toFixed(3),
            vs_one_session: counts[0] === 1 ? +(best(on) / one).toFixed(3) : undefined,
            mean_batch: Number.isNaN(mean) ? undefined : +mean.toFixed(2)
          }))
        }
      } finally {
        await variant.close()
        await stopServers(servers.splice(0))
      }
    }
  }
} finally {
  await stopServers(servers)
}

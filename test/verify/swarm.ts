/**
 * An in-process swarm for the verification tests and bench/verify.ts (stories260K unless told):
 * honest servers for two spans (0:2 and 2:5; slowed, so routes prefer the server under test while
 * they still audit), and servers under test for the second span that claim to be fast and can be
 * made to cheat.
 */
import type { Model } from '../../src/model/index.ts'
import { type RouteEvent, type SwarmServer, loadSwarmModel } from '../../src/swarm/index.ts'
import { type AuditPolicy, type Verifier, type VerifyMode, verification } from '../../src/verify/index.ts'
import { type StepCheat, cheat, lieInRecord, slowDown } from '../swarm/cheaters.ts'
import { STORIES, serveInProcess } from '../swarm/harness.ts'

const serve = async (blocks: [number, number], bootstrap: string[] = [], model = STORIES): Promise<SwarmServer> => await serveInProcess(blocks, bootstrap, { model })

export class TestSwarm {
  readonly honest: SwarmServer[] = []
  readonly suspects: SwarmServer[] = []

  constructor (readonly model = STORIES, readonly split: readonly [number, number, number] = [0, 2, 5]) {}

  get suspectSpan (): [number, number] {
    return [this.split[1], this.split[2]]
  }

  /** Two honest servers of the first span and `honestSecond` of the second, all slowed by `slowMs` per step. */
  static async start (honestSecond = 2, slowMs = 15, model = STORIES, split: readonly [number, number, number] = [0, 2, 5]): Promise<TestSwarm> {
    const swarm = new TestSwarm(model, split)
    const a: [number, number] = [split[0], split[1]]
    const b: [number, number] = [split[1], split[2]]
    const first = await serve(a, [], model)
    swarm.honest.push(first)
    for (const blocks of [a, ...Array.from({ length: honestSecond }, () => b)]) swarm.honest.push(await serve(blocks, first.addresses, model))
    for (const s of swarm.honest) slowDown(s, slowMs)
    return swarm
  }

  get bootstrap (): string[] {
    return this.honest[0]!.addresses
  }

  /** A new server for 2:5 that claims to be very fast and runs its steps through `fn` (honest if none). */
  async suspect (fn?: StepCheat, options: { model?: string } = {}): Promise<SwarmServer> {
    const s = await serve(this.suspectSpan, this.bootstrap, options.model ?? this.model)
    if (fn !== undefined) cheat(s, fn)
    await lieInRecord(s, () => ({ throughput: 1e6 }))
    this.suspects.push(s)
    return s
  }

  /** A swarm client that verifies in `mode` with `policy`, and the routes its sessions take. */
  async client (mode: VerifyMode, policy: AuditPolicy, seed = 1): Promise<{ model: Model, verifier: Verifier, routes: RouteEvent[] }> {
    let verifier: Verifier | undefined
    const routes: RouteEvent[] = []
    let x = seed
    const random = (): number => { x = (Math.imul(x, 1103515245) + 12345) >>> 0; return x / 2 ** 32 }
    const model = await loadSwarmModel(this.model, { bootstrap: this.bootstrap, onRoute: e => routes.push(e), watcher: verification({ mode, policy, random, onVerifier: v => { verifier = v } }) })
    const { client } = model.executors[0] as unknown as { client: { servers: (m: string, n: number, o: object) => Promise<unknown[]> } }
    const want = this.honest.length + this.suspects.length
    for (let t = 0; t < 100 && (await client.servers(model.modelId, model.config.nLayers, { refresh: true })).length < want; t++) await new Promise(resolve => setTimeout(resolve, 50))
    return { model, verifier: verifier!, routes }
  }

  /** Stops the servers under test (each test leaves with its own). */
  async dropSuspects (): Promise<void> {
    await Promise.all(this.suspects.splice(0).map(async s => { await s.stop() }))
  }

  async stop (): Promise<void> {
    await Promise.all([...this.honest, ...this.suspects].map(async s => { await s.stop() }))
  }
}

/** Every request audited, no probation: what the tests use to make a cheat show at once. */
export const ALWAYS: AuditPolicy = { rate: 1, probationRate: 1, probationAudits: 0 }

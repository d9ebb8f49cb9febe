import { SwarmServer, loadSwarmModel } from '../../src/swarm/index.ts'
import { verification, type Verifier } from '../../src/verify/index.ts'
import { cheat } from '../swarm/cheaters.ts'
import { STORIES, greedyIds } from '../swarm/harness.ts'
const serve = async (blocks: [number, number], bootstrap: string[] = []) => await SwarmServer.start({ model: STORIES, blocks, listen: ['/ip4/127.0.0.1/tcp/0'], bootstrap, version: 'test', threads: 1 })
const first = await serve([0, 2])
const servers = [first, await serve([0, 2], first.addresses), await serve([2, 5], first.addresses), await serve([2, 5], first.addresses), await serve([2,5], first.addresses)]
let v!: Verifier
const model = await loadSwarmModel(STORIES, { bootstrap: first.addresses, watcher: verification({ mode: 'sample', policy: { rate: 1, probationRate: 1, probationAudits: 0 }, onVerifier: x => { v = x } }) })
for (let i = 0; i < 3; i++) console.log(await greedyIds(model, 'Lily', 8))
await v.idle()
console.log(v.stats())
// now make server 2 (2:5) cheat: zeros
cheat(servers[2]!, async ({ honest }) => { const o = await honest(); return o.map(x => x * 1.01) })
for (let i = 0; i < 4; i++) { console.log(await greedyIds(model, 'Lily', 8)); await v.idle(); console.log(v.stats()) }
console.log([...v.book.all()].map(([p, s]) => [p.slice(-8), s]))
await model.close()
await Promise.all(servers.map(async s => { await s.stop() }))

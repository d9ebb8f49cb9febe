import { join } from 'node:path'
import { createBackend } from '../kernels/index.ts'
import { loadWeights, openModel } from '../model/index.ts'
import { SwarmClient, type SwarmStatus, formatStatus, swarmStatus } from '../swarm/index.ts'
import { REPUTATION_FILE, Recomputer, ReputationBook, trustSummaries } from '../verify/index.ts'
import { type Command, type CommandContext, UsageError, parse } from './command.ts'
import { readSwarmKey } from './swarm-key.ts'

const usage = `Usage: gridllm status [--bootstrap <multiaddr> | --lan] [options]

Prints the swarm as a client sees it: models, servers with their blocks, throughput and free
cache, the servers of each block, and blocks nobody serves. Every server is pinged: one that
does not answer within 3 s is shown offline and covers nothing. With --data-dir, also what this
node's audits found of each server (audits passed and failed, reputation, convictions); fraud
proofs published against a server are checked by recomputation when --model gives the weights.

Options:
      --bootstrap <multiaddr> a peer of the swarm, repeatable
      --lan                  find the swarm on this LAN (mDNS); the default without --bootstrap
      --swarm-key <file>     the key of a private swarm
      --data-dir <dir>       the data directory of this node's clients (gridllm api/generate --data-dir)
  -m, --model <file|dir>     the model's file, to check published fraud proofs
      --json                 print the status as JSON
  -h, --help                 show this help
`

/** The status as JSON: each server carries what verification knows of it. */
function asJson (status: SwarmStatus): unknown {
  const { trust, ...rest } = status
  if (trust === undefined) return rest
  return { ...rest, models: status.models.map(m => ({ ...m, servers: m.servers.map(s => ({ ...s, trust: trust[s.peer] })) })) }
}

export const statusCommand: Command = {
  name: 'status',
  summary: 'show the swarm: models, servers per block, uncovered blocks, audits and convictions',
  usage,
  async run (argv: string[], ctx: CommandContext): Promise<number> {
    const { values: v } = parse(argv, {
      bootstrap: { type: 'string', multiple: true },
      'swarm-key': { type: 'string' },
      'data-dir': { type: 'string' },
      model: { type: 'string', short: 'm' },
      lan: { type: 'boolean' },
      json: { type: 'boolean' }
    }, usage)
    if (v.help === true) { ctx.stdout.write(usage); return 0 }
    const lan = v.lan === true || v.bootstrap === undefined
    const client = await SwarmClient.create({ bootstrap: v.bootstrap ?? [], mdns: lan, swarmKey: readSwarmKey(v['swarm-key']), signal: ctx.signal })
    let dispose = (): void => {}
    try {
      // a record stays valid for minutes after its server died: ask each server too
      let status = await swarmStatus(client.directory, { signal: ctx.signal, probe: async s => await client.liveness.probe({ id: s.peer, addrs: s.addrs }) })
      if (v['data-dir'] !== undefined || v.model !== undefined) {
        const book = new ReputationBook(v['data-dir'] === undefined ? undefined : join(v['data-dir'], REPUTATION_FILE))
        let recomputer: Recomputer | undefined
        if (v.model !== undefined) {
          const source = await openModel(v.model, { signal: ctx.signal })
          const backend = await createBackend('auto', { threads: 1 })
          dispose = () => { backend.dispose() }
          const { modelId } = await loadWeights(source, backend, { start: 0, end: 0, hash: true, signal: ctx.signal })
          recomputer = new Recomputer(source, backend, modelId!)
        }
        const servers = status.models.flatMap(m => m.servers)
        status = { ...status, trust: await trustSummaries(servers, book, client.node, recomputer, { signal: ctx.signal }) }
        await recomputer?.close()
        book.flush()
      }
      ctx.stdout.write(v.json === true ? `${JSON.stringify(asJson(status), null, 2)}\n` : formatStatus(status))
    } finally {
      await client.stop()
      dispose()
    }
    return 0
  }
}

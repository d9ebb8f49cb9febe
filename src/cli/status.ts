import { SwarmClient, formatStatus, swarmStatus } from '../swarm/index.ts'
import { type Command, type CommandContext, UsageError, parse } from './command.ts'
import { readSwarmKey } from './swarm-key.ts'

const usage = `Usage: gridllm status [--bootstrap <multiaddr> | --lan] [options]

Prints the swarm as a client sees it: models, servers with their blocks, throughput and free
cache, the servers of each block, and blocks nobody serves. Every server is pinged: one that
does not answer within 3 s is shown offline and covers nothing.

Options:
      --bootstrap <multiaddr> a peer of the swarm, repeatable
      --lan                  find the swarm on this LAN (mDNS); the default without --bootstrap
      --swarm-key <file>     the key of a private swarm
      --json                 print the status as JSON
  -h, --help                 show this help
`

export const statusCommand: Command = {
  name: 'status',
  summary: 'show the swarm: models, servers per block, uncovered blocks',
  usage,
  async run (argv: string[], ctx: CommandContext): Promise<number> {
    const { values: v } = parse(argv, {
      bootstrap: { type: 'string', multiple: true },
      'swarm-key': { type: 'string' },
      lan: { type: 'boolean' },
      json: { type: 'boolean' }
    }, usage)
    if (v.help === true) { ctx.stdout.write(usage); return 0 }
    const lan = v.lan === true || v.bootstrap === undefined
    const client = await SwarmClient.create({ bootstrap: v.bootstrap ?? [], mdns: lan, swarmKey: readSwarmKey(v['swarm-key']), signal: ctx.signal })
    try {
      // a record stays valid for minutes after its server died: ask each server too
      const status = await swarmStatus(client.directory, { signal: ctx.signal, probe: async s => await client.liveness.probe({ id: s.peer, addrs: s.addrs }) })
      ctx.stdout.write(v.json === true ? `${JSON.stringify(status, null, 2)}\n` : formatStatus(status))
    } finally {
      await client.stop()
    }
    return 0
  }
}

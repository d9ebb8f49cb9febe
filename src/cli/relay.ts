import { startRelayNode } from '../swarm/index.ts'
import { type Command, type CommandContext, UsageError, int, mdnsByDefault, onOff, parse } from './command.ts'
import { readSwarmKey } from './swarm-key.ts'

const usage = `Usage: gridllm relay [options]

Runs a swarm node that serves no blocks: a DHT node others bootstrap from and, on a host
reachable from the internet, a relay for servers behind NAT (circuit relay v2, with limits
raised for tensor hops: 1 GiB and 1 hour per relayed connection). Prints one line
"listening <multiaddr>/p2p/<peer id>" on stdout once up. Ctrl-C (or SIGTERM) leaves.

Options:
      --listen <multiaddr>   address to listen on, repeatable (default /ip4/0.0.0.0/tcp/0)
      --announce <multiaddr> address to tell others instead (port forwarding), repeatable
      --bootstrap <multiaddr> a peer of the swarm to join through, repeatable
      --swarm-key <file>     private swarm: only peers with this key can connect
      --relay-service <auto|on|off>
                             auto: relay only while AutoNAT confirms this host is reachable
                             from the internet (default auto)
      --max-reservations <N> servers behind NAT this relay holds a slot for (default 64)
      --mdns <on|off>        be found by peers on the LAN (default on; off with --swarm-key
                             or when listening on loopback only)
  -h, --help                 show this help
`

export const relayCommand: Command = {
  name: 'relay',
  summary: 'run a bootstrap and relay node for servers behind NAT (serves no blocks)',
  usage,
  async run (argv: string[], ctx: CommandContext): Promise<number> {
    const { values: v } = parse(argv, {
      listen: { type: 'string', multiple: true },
      announce: { type: 'string', multiple: true },
      bootstrap: { type: 'string', multiple: true },
      'swarm-key': { type: 'string' },
      'relay-service': { type: 'string' },
      'max-reservations': { type: 'string' },
      mdns: { type: 'string' }
    }, usage)
    if (v.help === true) { ctx.stdout.write(usage); return 0 }
    const relayService = v['relay-service'] ?? 'auto'
    if (relayService !== 'auto' && relayService !== 'on' && relayService !== 'off') throw new UsageError(`--relay-service must be auto, on or off; got "${relayService}"`, usage)
    const node = await startRelayNode({
      listen: v.listen,
      announce: v.announce,
      bootstrap: v.bootstrap,
      swarmKey: readSwarmKey(v['swarm-key']),
      relayService,
      maxReservations: int('max-reservations', v['max-reservations'], 1),
      mdns: onOff('mdns', v.mdns, mdnsByDefault(v.listen, v['swarm-key']), usage),
      signal: ctx.signal
    })
    try {
      const addrs = node.addresses
      ctx.stdout.write(`listening ${addrs.find(a => !a.startsWith('/ip4/127.') && !a.startsWith('/ip6/::1/')) ?? addrs[0] ?? ''}\n`)
      ctx.stderr.write(`gridllm relay: up, peer ${node.peerId}\n`)
      node.onReachChange(reach => {
        ctx.stderr.write(`gridllm relay: reachability ${reach}${reach === 'public' ? ' (confirmed by AutoNAT): relaying for servers behind NAT' : ''}\n`)
      })
      await new Promise<void>(resolve => {
        if (ctx.signal.aborted) resolve()
        ctx.signal.addEventListener('abort', () => { resolve() }, { once: true })
      })
    } finally {
      await node.stop()
    }
    return 0
  }
}

/**
 * A swarm node that serves no blocks (`gridllm relay`): a DHT server others bootstrap from, and,
 * when AutoNAT finds it reachable (or with relayService 'on'), a circuit relay for servers behind
 * NAT, with per-circuit limits raised for tensor hops.
 */
import { NetNode, type RelayService } from '../net/index.ts'
import { recordRules } from './record.ts'

export interface RelayNodeOptions {
  listen?: readonly string[]
  announce?: readonly string[]
  bootstrap?: readonly string[]
  swarmKey?: Uint8Array
  /** default 'auto': relay only while AutoNAT confirms a public address */
  relayService?: RelayService
  /** reservations held for NATed servers at most; default 64 */
  maxReservations?: number
  mdns?: boolean
  /** how long others' provider records are kept; default 120 s (servers re-announce every 60 s) */
  providerValidityMs?: number
  signal?: AbortSignal
}

export async function startRelayNode (options: RelayNodeOptions): Promise<NetNode> {
  return await NetNode.create({
    listen: options.listen ?? ['/ip4/0.0.0.0/tcp/0'],
    announce: options.announce,
    bootstrap: options.bootstrap,
    swarmKey: options.swarmKey,
    dhtServer: true,
    records: recordRules,
    providerValidityMs: options.providerValidityMs ?? 120_000,
    reach: { relayService: options.relayService ?? 'auto', maxRelayReservations: options.maxReservations },
    mdns: options.mdns === true ? 'announce' : undefined,
    signal: options.signal
  })
}

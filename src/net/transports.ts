/**
 * Which transports a node speaks, chosen here (the only place that knows libp2p):
 *   native nodes   TCP (between native peers), WebSockets (for tabs to dial), circuit relay (to
 *                  reach tabs, which cannot listen), and a relay service for tabs to reserve
 *   browser tabs   browser-transports.ts: WebSockets to native nodes, WebRTC between tabs with the
 *                  relay only carrying the signalling, circuit relay as the fallback
 * A relayed connection is "limited"; our relays raise the limits so a tensor hop fits through one
 * (libp2p's defaults, 128 KiB and 2 minutes per circuit, end a session within tokens).
 */
import { autoNATv2 } from '@libp2p/autonat-v2'
import { circuitRelayServer, circuitRelayTransport } from '@libp2p/circuit-relay-v2'
import { dcutr } from '@libp2p/dcutr'
import { mdns } from '@libp2p/mdns'
import { tcp } from '@libp2p/tcp'
import { webSockets } from '@libp2p/websockets'
import type { Libp2pOptions } from 'libp2p'
import { RELAY_DATA_BYTES, RELAY_DURATION_MS, type ReachState, reachability } from './reach.ts'

/** libp2p services, by name (their component types are libp2p's business) */
export type Services = Record<string, (components: any) => unknown>

export interface TransportSet {
  readonly platform: 'node' | 'browser'
  readonly transports: NonNullable<Libp2pOptions['transports']>
  readonly connectionGater?: Libp2pOptions['connectionGater']
  /** the addresses worth dialing of a peer's (e.g. a tab's direct WebRTC one rather than its relayed one) */
  readonly preferDial?: (addrs: readonly string[]) => readonly string[]
  /** reachability services (AutoNAT, hole punching, relay service; see reach.ts), where the platform has them */
  readonly services?: (state: ReachState) => Services
  /** LAN discovery (mDNS), where the platform has it; `announce` answers queries (servers), else only asks */
  readonly lanDiscovery?: (announce: boolean) => NonNullable<Libp2pOptions['peerDiscovery']>[number]
}

export function nodeTransports (): TransportSet {
  return {
    platform: 'node',
    transports: [tcp(), webSockets(), circuitRelayTransport({ reservationCompletionTimeout: 10_000 })],
    services: reachServices,
    lanDiscovery: announce => mdns({ serviceTag: '_gridllm._udp.local', broadcast: announce, interval: 2000 })
  }
}

/**
 * AutoNAT, DCUtR, the reachability watcher and the relay service (with per-circuit limits raised
 * so a tensor hop fits through one; libp2p's 128 KiB and 2 minutes end a session within tokens).
 */
function reachServices (state: ReachState): Services {
  const services: Services = {
    autoNAT: autoNATv2({ protocolPrefix: 'gridllm' }),
    dcutr: dcutr(),
    reachability: reachability(state)
  }
  if ((state.options.relayService ?? 'auto') !== 'off') {
    services.relay = circuitRelayServer({
      reservations: {
        maxReservations: state.options.maxRelayReservations ?? 64,
        defaultDataLimit: BigInt(state.options.relayDataBytes ?? RELAY_DATA_BYTES),
        defaultDurationLimit: state.options.relayDurationMs ?? RELAY_DURATION_MS
      }
    })
  }
  return services
}

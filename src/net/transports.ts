/**
 * Which transports a node speaks, chosen here (the only place that knows libp2p):
 *   native nodes   TCP (between native peers), WebSockets (for tabs to dial), circuit relay (to
 *                  reach tabs, which cannot listen), and a relay service for tabs to reserve
 *   browser tabs   browser-transports.ts: WebSockets to native nodes, WebRTC between tabs with the
 *                  relay only carrying the signalling, circuit relay as the fallback
 * A relayed connection is "limited"; our relays raise the limits so a tensor hop fits through one
 * (libp2p's defaults, 128 KiB and 2 minutes per circuit, end a session within tokens).
 */
import { circuitRelayServer, circuitRelayTransport } from '@libp2p/circuit-relay-v2'
import { tcp } from '@libp2p/tcp'
import { webSockets } from '@libp2p/websockets'
import type { Libp2pOptions } from 'libp2p'

export interface TransportSet {
  readonly platform: 'node' | 'browser'
  readonly transports: NonNullable<Libp2pOptions['transports']>
  readonly connectionGater?: Libp2pOptions['connectionGater']
  /** the addresses worth dialing of a peer's (e.g. a tab's direct WebRTC one rather than its relayed one) */
  readonly preferDial?: (addrs: readonly string[]) => readonly string[]
}

export function nodeTransports (): TransportSet {
  return { platform: 'node', transports: [tcp(), webSockets(), circuitRelayTransport()] }
}

/** What one relayed circuit may carry: enough for many sessions of tensor hops, bounded per peer. */
export const RELAY_LIMITS = { dataBytes: 1n << 30n, durationMs: 30 * 60_000, reservations: 64 }

export function relayService (): ReturnType<typeof circuitRelayServer> {
  return circuitRelayServer({
    reservations: {
      maxReservations: RELAY_LIMITS.reservations,
      defaultDataLimit: RELAY_LIMITS.dataBytes,
      defaultDurationLimit: RELAY_LIMITS.durationMs
    }
  })
}

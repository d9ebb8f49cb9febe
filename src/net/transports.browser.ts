/**
 * The browser's side of transports.ts (the web build swaps it in): Node's transports (TCP, mDNS,
 * AutoNAT, the relay service) do not exist in a tab, which always passes browserTransports().
 */
import type { Libp2pOptions } from 'libp2p'
import type { ReachState } from './reach.ts'

export type Services = Record<string, (components: any) => unknown>

export interface TransportSet {
  readonly platform: 'node' | 'browser'
  readonly transports: NonNullable<Libp2pOptions['transports']>
  readonly connectionGater?: Libp2pOptions['connectionGater']
  readonly preferDial?: (addrs: readonly string[]) => readonly string[]
  readonly services?: (state: ReachState) => Services
  readonly lanDiscovery?: (announce: boolean) => NonNullable<Libp2pOptions['peerDiscovery']>[number]
}

export function nodeTransports (): TransportSet {
  throw new Error('a node in a browser needs its transports given (browserTransports())')
}

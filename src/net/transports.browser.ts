/**
 * The browser's side of transports.ts (the web build swaps it in): Node's transports (TCP, mDNS,
 * AutoNAT, the relay service) do not exist in a tab, which always passes browserTransports().
 * The types are transports.ts's own (type-only, so nothing of Node's is bundled).
 */
import type { TransportSet } from './transports.ts'

export type { Services, TransportSet } from './transports.ts'

export function nodeTransports (): TransportSet {
  throw new Error('a node in a browser needs its transports given (browserTransports())')
}

/**
 * The transports of a node in a browser tab (imported by web/ only: @libp2p/webrtc is for
 * browsers here). Tabs cannot listen: they dial native nodes over WebSockets, reserve a slot on a
 * native relay (`/p2p-circuit`) so others can reach them, and accept WebRTC (`/webrtc`), for which
 * the relay only carries the signalling; the data then flows tab to tab.
 */
import { circuitRelayTransport } from '@libp2p/circuit-relay-v2'
import { webRTC } from '@libp2p/webrtc'
import { webSockets } from '@libp2p/websockets'
import type { TransportSet } from './transports.ts'

/** Where a tab listens: a relay reservation and WebRTC behind it. */
export const BROWSER_LISTEN = ['/p2p-circuit', '/webrtc']

export function browserTransports (): TransportSet {
  return {
    platform: 'browser',
    transports: [webSockets(), webRTC(), circuitRelayTransport()],
    // the browser default refuses plain ws:// and private addresses; swarms run on LANs and
    // loopback too, and every address dialed is a swarm member's (records are checked)
    connectionGater: { denyDialMultiaddr: () => false },
    preferDial: addrs => {
      const direct = addrs.filter(a => a.includes('/webrtc') && !a.includes('/webrtc-direct'))
      return direct.length > 0 ? direct : addrs
    }
  }
}

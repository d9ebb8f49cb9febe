/**
 * Reachability from behind NAT, with libp2p's own parts:
 *
 * - AutoNAT (v2): peers dial each other's addresses back, so a node learns which of its public
 *   addresses others can reach. A node is `public` once one is confirmed; `nat` when a peer saw it
 *   come from a public address (identify's observed address) and no public address of its own was
 *   confirmed within `natGraceMs`; `local` when all it has are private addresses and nobody saw it
 *   from outside (a LAN or loopback swarm, where no relay is needed).
 * - Circuit relay v2: every node can dial relayed addresses; a `nat` server reserves a slot on a relay
 *   and announces its relayed address (`/…/p2p/<relay>/p2p-circuit`), and switches its DHT to client
 *   mode (nobody can dial it directly). A `public` node offers relay service (`relayService: 'auto'`;
 *   'on' always, 'off' never) with per-circuit limits raised from libp2p's 128 KiB and 2 minutes, which
 *   kill a session, to what tensor hops need.
 * - DCUtR: over a relayed connection both ends try to open a direct one (hole punching); where the
 *   NATs allow it the relay then drops out of the data path, otherwise data stays relayed.
 */
import type { ConnectionGater } from '@libp2p/interface'
import { isPrivate } from '@libp2p/utils'
import { type Multiaddr, multiaddr } from '@multiformats/multiaddr'
import { unref } from '../util/bytes.ts'
import { logger } from '../util/log.ts'

const log = logger('net:reach')

export type Reach = 'public' | 'nat' | 'local'
export type RelayService = 'auto' | 'on' | 'off'

export interface ReachOptions {
  /** offer relay service: 'auto' (default) while this node is public, 'on' always, 'off' never */
  relayService?: RelayService
  /** when behind NAT, reserve a relay slot and announce the relayed address (servers); default false */
  reserveRelay?: boolean
  /** bytes one relayed connection may carry; default 1 GiB */
  relayDataBytes?: number
  /** how long one relayed connection may last; default 1 hour */
  relayDurationMs?: number
  /** relay reservations this node holds for others at most; default 64 */
  maxRelayReservations?: number
  /** how long a node seen at an unconfirmed public address waits before it counts itself behind NAT; default 3 s */
  natGraceMs?: number
}

export const RELAY_DATA_BYTES = 2 ** 30
export const RELAY_DURATION_MS = 3600_000

/** The state the services and the node share. */
export class ReachState {
  reach: Reach = 'local'
  /** the addresses this node listens on, confirmed or not (set by the service) */
  listenAddrs: () => Multiaddr[] = () => []
  private readonly listeners: Array<(reach: Reach) => void> = []

  constructor (readonly options: ReachOptions) {}

  get offersRelay (): boolean {
    const mode = this.options.relayService ?? 'auto'
    return mode === 'on' || (mode === 'auto' && this.reach === 'public')
  }

  onChange (fn: (reach: Reach) => void): void {
    this.listeners.push(fn)
  }

  set (reach: Reach): void {
    if (reach === this.reach) return
    log('reachability: %s -> %s', this.reach, reach)
    this.reach = reach
    for (const fn of this.listeners) fn(reach)
  }
}

export const isRelayed = (addr: Multiaddr | string): boolean => addr.toString().includes('/p2p-circuit')
const isPublic = (addr: Multiaddr): boolean => !isRelayed(addr) && !isPrivate(addr)

/** Refuses relay reservations unless this node offers relay service now. */
export function reachGater (state: ReachState): ConnectionGater {
  return { denyInboundRelayReservation: () => !state.offersRelay }
}

interface AddressComponents {
  addressManager: {
    getAddressesWithMetadata: () => Array<{ multiaddr: Multiaddr, verified: boolean, type: string }>
  }
  transportManager: { listen: (addrs: Multiaddr[]) => Promise<void>, getAddrs: () => Multiaddr[] }
  events: EventTarget
}

/** A libp2p service that keeps `state.reach` up to date and reserves a relay slot when behind NAT. */
export function reachability (state: ReachState) {
  return (components: AddressComponents) => {
    state.listenAddrs = () => components.transportManager.getAddrs().filter(a => !isRelayed(a))
    let seenOutsideAt: number | undefined
    let listening = false
    let timer: ReturnType<typeof setInterval> | undefined
    const update = (): void => {
      const addrs = components.addressManager.getAddressesWithMetadata()
      if (addrs.some(a => a.verified && isPublic(a.multiaddr))) { state.set('public'); return }
      if (seenOutsideAt !== undefined && Date.now() - seenOutsideAt >= (state.options.natGraceMs ?? 3000)) state.set('nat')
      if (state.reach === 'nat' && state.options.reserveRelay === true && !listening) {
        listening = true
        log('behind NAT: looking for a relay')
        components.transportManager.listen([multiaddr('/p2p-circuit')]).catch(err => {
          listening = false
          log('cannot listen on a relay: %s', (err as Error).message)
        })
      }
    }
    // libp2p keeps no observed TCP address (it cannot dial from its listening port), but identify
    // still reports what the peer saw: coming from a public address means a NAT or a public host
    const identified = (evt: Event): void => {
      const { observedAddr, connection } = (evt as CustomEvent<{ observedAddr?: Multiaddr, connection: { remoteAddr: Multiaddr } }>).detail
      if (observedAddr === undefined || isRelayed(connection.remoteAddr) || !isPublic(observedAddr)) return
      seenOutsideAt ??= Date.now()
      update()
    }
    return {
      [Symbol.toStringTag]: 'gridllm/reachability',
      start: () => {
        components.events.addEventListener('peer:identify', identified)
        components.events.addEventListener('self:peer:update', update)
        timer = unref(setInterval(update, 1000))
      },
      stop: () => {
        components.events.removeEventListener('peer:identify', identified)
        components.events.removeEventListener('self:peer:update', update)
        clearInterval(timer)
      }
    }
  }
}

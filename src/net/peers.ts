/**
 * What this node knows of each connected peer's use of it: channels open, when it last sent or
 * received a message, and the byte budget its unfinished messages draw from. With more connections
 * than `maxConnections`, the idlest are closed to make room for newcomers: first peers without an
 * open channel (longest quiet first), never a peer with an open channel. So strangers that connect
 * and sit there cannot fill the connection table and lock real clients out.
 */
import type { Connection } from '@libp2p/interface'
import type { Libp2p } from 'libp2p'
import { logger } from '../util/log.ts'
import type { ByteBudget, Channel } from './channel.ts'

const log = logger('net:peers')

interface PeerState {
  channels: number
  lastActiveAt: number
  budget: ByteBudget | undefined
}

export class PeerActivity {
  private readonly peers = new Map<string, PeerState>()
  private readonly onOpen = (): void => { this.prune() }
  private readonly onDisconnect = (evt: CustomEvent<{ toString: () => string }>): void => {
    const peer = evt.detail.toString()
    if ((this.peers.get(peer)?.channels ?? 0) === 0) this.peers.delete(peer)
  }

  constructor (private readonly libp2p: Libp2p<any>, private readonly maxConnections: number) {
    libp2p.addEventListener('connection:open', this.onOpen)
    libp2p.addEventListener('peer:disconnect', this.onDisconnect)
  }

  private state (peer: string): PeerState {
    let s = this.peers.get(peer)
    if (s === undefined) {
      s = { channels: 0, lastActiveAt: Date.now(), budget: undefined }
      this.peers.set(peer, s)
    }
    return s
  }

  /** The peer's byte budget, made by `make` the first time. */
  budget (peer: string, make: () => ByteBudget): ByteBudget {
    const s = this.state(peer)
    s.budget ??= make()
    return s.budget
  }

  touch (peer: string): void {
    this.state(peer).lastActiveAt = Date.now()
  }

  /** Counts the channel as open until it closes. */
  track (channel: Channel): Channel {
    const s = this.state(channel.peer)
    s.channels++
    s.lastActiveAt = Date.now()
    channel.onClose(() => {
      s.channels--
      s.lastActiveAt = Date.now()
    })
    return channel
  }

  /** Closes the idlest connections while there are more than maxConnections. */
  prune (): void {
    const connections = this.libp2p.getConnections() as Connection[]
    const excess = connections.length - this.maxConnections
    if (excess <= 0) return
    const idle = connections
      .filter(c => (this.peers.get(c.remotePeer.toString())?.channels ?? 0) === 0)
      .map(c => ({ c, at: this.peers.get(c.remotePeer.toString())?.lastActiveAt ?? c.timeline.open }))
      .sort((a, b) => a.at - b.at)
      .slice(0, excess)
    if (idle.length > 0) log('%d connections, %d over the limit: closing %d idle ones', connections.length, excess, idle.length)
    for (const { c } of idle) {
      c.close().catch(err => { c.abort(err as Error) })
    }
  }

  stop (): void {
    this.libp2p.removeEventListener('connection:open', this.onOpen)
    this.libp2p.removeEventListener('peer:disconnect', this.onDisconnect)
  }
}

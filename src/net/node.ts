/**
 * A gridllm peer on libp2p: TCP + Noise + Yamux, identify, ping and a Kademlia DHT under our own
 * protocol name, optionally a private network (pre-shared swarm key). This file and channel.ts are
 * the only places that touch libp2p; the swarm sees peers as id strings and multiaddr strings.
 *
 * Signed records: a peer publishes one value under `/gridllm/<its peer id>`, wrapped in an envelope
 * signed with its libp2p key. Every DHT node validates the envelope against the peer id in the key
 * before it stores or returns it, and readers verify again, so nobody can announce for another peer.
 */
import { setMaxListeners } from 'node:events'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { identify } from '@libp2p/identify'
import type { PrivateKey, PeerId } from '@libp2p/interface'
import { kadDHT, passthroughMapper, type KadDHT, type SingleKadDHT } from '@libp2p/kad-dht'
import { noise } from '@libp2p/noise'
import { peerIdFromString } from '@libp2p/peer-id'
import { ping, type Ping } from '@libp2p/ping'
import { preSharedKey } from '@libp2p/pnet'
import { yamux } from '@libp2p/yamux'
import { type Multiaddr, multiaddr } from '@multiformats/multiaddr'
import { type Libp2p, createLibp2p } from 'libp2p'
import { CID } from 'multiformats/cid'
import * as raw from 'multiformats/codecs/raw'
import { sha256 } from 'multiformats/hashes/sha2'
import { BadRecordError, GridError, InvalidArgumentError, NetworkError, isAbortError, throwIfAborted } from '../util/errors.ts'
import { toHex } from '../util/bytes.ts'
import { logger } from '../util/log.ts'
import { deadline, withDeadline } from '../util/timeout.ts'
import { ByteBudget, Channel, type ChannelOptions } from './channel.ts'
import { loadOrCreateKey } from './identity.ts'
import { PeerActivity } from './peers.ts'
import { MAX_RECORD_BYTES, RECORD_FETCH_TIMEOUT_MS, RECORD_PROTOCOL, VerifiedRecords, answerRecordRequests, requestRecord } from './records.ts'
import { type Reach, type ReachOptions, ReachState, isRelayed, reachGater } from './reach.ts'
import { type TransportSet, nodeTransports } from './transports.ts'

const log = logger('net:node')

export const RECORD_PREFIX = 'gridllm'
const DHT_PROTOCOL = '/gridllm/kad/1.0.0'
const SIGN_DOMAIN = new TextEncoder().encode('gridllm-record:')

/** A peer as the swarm knows it: id and dialable addresses (without /p2p/). */
export interface PeerAddress {
  readonly id: string
  readonly addrs: readonly string[]
}

export interface ConnectionInfo {
  readonly peer: string
  readonly addr: string
  readonly direction: 'inbound' | 'outbound'
  /** relayed through a circuit relay (data and time limited) */
  readonly limited: boolean
  readonly protocols: readonly string[]
}

export interface RecordRules {
  /** throws if the (already signature-checked) payload must not be stored or used, e.g. expired */
  validate (payload: Uint8Array): void
  /** index of the best of several payloads for the same key (e.g. the newest) */
  select (payloads: readonly Uint8Array[]): number
}

export interface NetNodeOptions {
  /** multiaddrs to listen on; none for a pure client */
  listen?: readonly string[]
  /** addresses to tell others instead of the listen addresses (port forwarding, relays) */
  announce?: readonly string[]
  /** multiaddrs (with /p2p/) of peers to join through */
  bootstrap?: readonly string[]
  /** contents of a swarm key file: only peers with the same key can connect */
  swarmKey?: Uint8Array
  /** answer DHT queries (servers) or only ask them (clients) */
  dhtServer?: boolean
  records?: RecordRules
  /** how long provider records stay valid; default 48 h (libp2p's) */
  providerValidityMs?: number
  dialTimeoutMs?: number
  /**
   * Connections kept open; past this, the idlest (no open channel, longest quiet) are closed to make
   * room, so strangers holding idle connections cannot lock others out. Default 256.
   */
  maxConnections?: number
  /** NAT traversal: AutoNAT, relays, hole punching (see reach.ts) */
  reach?: ReachOptions
  /**
   * Find peers on the LAN by mDNS and connect to them: 'announce' also answers others' queries
   * (a server), 'ask' only asks (a client). Default off.
   */
  mdns?: 'announce' | 'ask'
  /** the peer's key: kept in this file (made there if missing), so a restarted node is the same peer; default a new key each time */
  keyFile?: string
  /** the peer's key, kept by the caller (a tab keeps it in IndexedDB); instead of keyFile */
  key?: PrivateKey
  /** default nodeTransports() */
  transports?: TransportSet
  /** always relay for peers that cannot listen (tabs), public or not (reach.relayService 'on') */
  relay?: boolean
  signal?: AbortSignal
}

/** Limits for the streams of one protocol handled by this node. */
export interface HandleOptions extends ChannelOptions {
  /** streams of this protocol one connection may have open; default 256 */
  maxStreamsPerConnection?: number
  /** bytes of unfinished messages one peer may hold over all its streams; default 2 × maxMessageBytes */
  maxBufferedBytesPerPeer?: number
  /** bytes of unfinished messages all peers together may hold; default 8 × maxMessageBytes */
  maxBufferedBytes?: number
}

type Services = {
  identify: unknown
  ping: Ping
  dht: KadDHT
}

/** Parses and checks a swarm key file (libp2p's /key/swarm/psk/1.0.0/ base16 format). */
export function parseSwarmKey (bytes: Uint8Array): Uint8Array {
  const lines = new TextDecoder().decode(bytes).trim().split(/\r?\n/)
  if (lines.length !== 3 || lines[0] !== '/key/swarm/psk/1.0.0/' || lines[1] !== '/base16/' || !/^[0-9a-fA-F]{64}$/.test(lines[2]!)) {
    throw new GridError('SWARM_KEY', 'not a swarm key file: expected "/key/swarm/psk/1.0.0/", "/base16/" and 64 hex digits on three lines')
  }
  return new TextEncoder().encode(lines.join('\n'))
}

/** A new random swarm key file's contents. */
export function generateSwarmKey (): Uint8Array {
  const hex = toHex(crypto.getRandomValues(new Uint8Array(32)))
  return new TextEncoder().encode(`/key/swarm/psk/1.0.0/\n/base16/\n${hex}\n`)
}

/** CID naming a topic (e.g. "model/<id>/block/3") in the DHT's provider records. */
async function topicCid (topic: string): Promise<CID> {
  return CID.createV1(raw.code, await sha256.digest(new TextEncoder().encode(`${RECORD_PREFIX}/${topic}`)))
}

/** The DHT key of a peer's record: /gridllm/<peer id>. */
export function recordKey (peer: string): Uint8Array {
  return new TextEncoder().encode(`/${RECORD_PREFIX}/${peer}`)
}

/** envelope = u32 LE payload length, payload, signature over SIGN_DOMAIN + key + payload */
function signedBytes (key: Uint8Array, payload: Uint8Array): Uint8Array {
  const out = new Uint8Array(SIGN_DOMAIN.byteLength + key.byteLength + payload.byteLength)
  out.set(SIGN_DOMAIN)
  out.set(key, SIGN_DOMAIN.byteLength)
  out.set(payload, SIGN_DOMAIN.byteLength + key.byteLength)
  return out
}

function openEnvelope (value: Uint8Array): { payload: Uint8Array, signature: Uint8Array } {
  if (value.byteLength < 4) throw new BadRecordError('record envelope too short')
  const n = new DataView(value.buffer, value.byteOffset, 4).getUint32(0, true)
  if (4 + n > value.byteLength) throw new BadRecordError('record envelope truncated')
  return { payload: value.subarray(4, 4 + n), signature: value.subarray(4 + n) }
}

export const PROOF_PREFIX = 'gridllm-proof'
const PEER_ID = '[1-9A-HJ-NP-Za-km-z]{40,100}'
/** the signer of a value is the last peer id in its key: /gridllm/<signer> or /gridllm-proof/<suspect>/<signer> */
const SIGNED_KEY = new RegExp(`^/(?:${RECORD_PREFIX}|${PROOF_PREFIX}/${PEER_ID})/(${PEER_ID})$`)

/** The name `accuser` signs its fraud proof against `suspect` under: /gridllm-proof/<suspect>/<accuser>. */
export function proofKey (suspect: string, accuser: string): Uint8Array {
  return new TextEncoder().encode(`/${PROOF_PREFIX}/${suspect}/${accuser}`)
}

/** Checks that `value` under `key` is signed by the peer its key ends with; returns the payload. */
export async function verifyRecord (key: Uint8Array, value: Uint8Array): Promise<Uint8Array> {
  const name = new TextDecoder().decode(key)
  const m = SIGNED_KEY.exec(name)
  if (m === null) throw new BadRecordError(`bad record key ${name}`)
  let peer: PeerId
  try {
    peer = peerIdFromString(m[1]!)
  } catch {
    throw new BadRecordError(`record key ${name} does not name a peer id`)
  }
  if (peer.publicKey === undefined) throw new BadRecordError(`peer id ${m[1]} does not embed its public key`)
  const { payload, signature } = openEnvelope(value)
  if (!await peer.publicKey.verify(signedBytes(key, payload), signature)) throw new BadRecordError(`record under ${name} is not signed by that peer`)
  return payload
}

/** libp2p's error for a --listen address it could not bind (a port in use, an address this host lacks), named plainly. */
function listenError (err: Error, listen: readonly string[]): Error {
  if (err.name !== 'UnsupportedListenAddressesError') return err
  const errno = /listen (E[A-Z]+)/.exec(err.message)?.[1]
  const why = errno === 'EADDRINUSE' ? 'the address is in use' : errno === 'EADDRNOTAVAIL' ? 'this host has no such address' : errno ?? err.message
  return new InvalidArgumentError(`cannot listen on ${listen.join(', ')}: ${why}`, { cause: err, param: 'listen' })
}

export const DEFAULT_MAX_CONNECTIONS = 256
/** how often libp2p pings each open connection (a silent one is closed when a ping fails) */
const CONNECTION_PING_INTERVAL_MS = 30_000
/** room above the soft limit so that a newcomer is accepted while an idle connection is closed */
const CONNECTION_HEADROOM = 32

/**
 * What a failed connection most likely means to someone joining. Peers of a private swarm answer
 * a peer without their key (or with another one) with bytes its handshake cannot read, so the
 * dial fails with whatever the reader trips on first ("Message length too long", "Missing
 * newline", a reset, a timeout); an address nobody listens on is refused instead.
 */
export function swarmKeyHint (err: Error, keyed: boolean): string {
  if (/ECONNREFUSED|EHOSTUNREACH|ENETUNREACH|ENOTFOUND|EADDRNOTAVAIL/.test(err.message)) return ''
  if (keyed) return ' (this node uses a swarm key: the peer may belong to a swarm with another key, or to a public one)'
  const garbled = /length too long|missing newline|ECONNRESET|unexpected EOF|stream (closed|ended)|invalid|decrypt|nonce/i.test(err.message)
  return garbled
    ? ' (the peer is part of a private swarm: pass the swarm\'s key with --swarm-key <file>)'
    : ' (if the swarm is private, pass its key with --swarm-key <file>)'
}

/**
 * A DHT query adds an abort listener to its signal per message in flight (kad-dht's adaptive
 * timeouts) and removes it after; a server's signal, shared by every announcement, would pass
 * Node's leak threshold of 10 and print MaxListenersExceededWarning for no leak.
 */
function dhtOptions (options: { signal?: AbortSignal }): { signal?: AbortSignal } {
  if (options.signal !== undefined) setMaxListeners(Infinity, options.signal)
  return { signal: options.signal }
}

export class NetNode {
  private bootstrap: readonly string[] = []
  private readonly activity: PeerActivity
  private keyed = false
  /** the envelope of this peer's record as last put, served over RECORD_PROTOCOL */
  private ownRecord: Uint8Array | undefined
  private readonly verified = new VerifiedRecords()

  private constructor (private readonly libp2p: Libp2p<Services>, private readonly privateKey: PrivateKey, private readonly rules: RecordRules | undefined,
    maxConnections: number, private readonly reachState: ReachState, private readonly transports: TransportSet) {
    this.activity = new PeerActivity(libp2p, maxConnections)
  }

  static async create (options: NetNodeOptions = {}): Promise<NetNode> {
    throwIfAborted(options.signal)
    const privateKey = options.key ?? (options.keyFile === undefined ? await generateKeyPair('Ed25519') : await loadOrCreateKey(options.keyFile))
    const rules = options.records
    const maxConnections = options.maxConnections ?? DEFAULT_MAX_CONNECTIONS
    const reach = new ReachState({ ...options.reach, ...(options.relay === true ? { relayService: 'on' as const } : {}) })
    const transports = options.transports ?? nodeTransports()
    const libp2p = await createLibp2p({
      privateKey,
      addresses: { listen: [...(options.listen ?? [])], announce: [...(options.announce ?? [])] },
      transports: transports.transports,
      connectionGater: { ...transports.connectionGater, ...reachGater(reach) },
      peerDiscovery: options.mdns === undefined || transports.lanDiscovery === undefined ? [] : [transports.lanDiscovery(options.mdns === 'announce')],
      connectionEncrypters: [noise()],
      streamMuxers: [yamux()],
      connectionProtector: options.swarmKey === undefined ? undefined : preSharedKey({ psk: parseSwarmKey(options.swarmKey) }),
      // libp2p pings every connection to find silently dead ones; a server of a big swarm holds one
      // to most servers, and every 10 s (the default) made those pings a third of an idle server's streams
      connectionMonitor: { pingInterval: CONNECTION_PING_INTERVAL_MS },
      connectionManager: {
        dialTimeout: options.dialTimeoutMs ?? 5000,
        maxConnections: maxConnections + CONNECTION_HEADROOM,
        maxIncomingPendingConnections: 64,
        // libp2p refuses (resets) a 6th connection per second from one host; peers behind one
        // address (a LAN behind NAT, a swarm on loopback) legitimately join faster than that
        inboundConnectionThreshold: 64
      },
      services: {
        identify: identify(),
        // liveness probes, round-trip measurements and libp2p's own connection monitor share it
        ping: ping({ maxOutboundStreams: 16, maxInboundStreams: 16, runOnLimitedConnection: true }),
        ...transports.services?.(reach),
        dht: kadDHT({
          protocol: DHT_PROTOCOL,
          clientMode: options.dhtServer !== true,
          peerInfoMapper: passthroughMapper, // keep loopback and LAN addresses: swarms run there too
          // a tab always joins through peers; a query with none returns at once, and the relay
          // discovery's random walk would then spin on the page's only thread
          allowQueryWithZeroPeers: transports.platform !== 'browser',
          // drop others' provider records after providerValidityMs (we re-provide our own ourselves)
          reprovide: options.providerValidityMs === undefined ? undefined : { validity: options.providerValidityMs, interval: options.providerValidityMs / 2, threshold: 0 },
          validators: {
            [RECORD_PREFIX]: async (key, value) => { rules?.validate(await verifyRecord(key, value)) }
          },
          selectors: {
            [RECORD_PREFIX]: (_key, values) => rules?.select(values.map(v => openEnvelope(v).payload)) ?? 0
          }
        })
      }
    }).catch((err: Error) => { throw listenError(err, options.listen ?? []) })
    const node = new NetNode(libp2p, privateKey, rules, maxConnections, reach, transports)
    log('peer %s listening on %o', node.peerId, node.addresses)
    node.bootstrap = options.bootstrap ?? []
    node.keyed = options.swarmKey !== undefined
    node.followReach(options.dhtServer === true)
    node.logConnections()
    await node.handle(RECORD_PROTOCOL, channel => { answerRecordRequests(channel, () => node.ownRecord) },
      { maxMessageBytes: MAX_RECORD_BYTES, maxStreamsPerConnection: 8 })
    if (options.mdns !== undefined) node.dialDiscovered()
    try {
      await node.join(options.signal)
    } catch (err) {
      await libp2p.stop()
      throw err
    }
    return node
  }

  /** Dials the bootstrap peers (five tries each, over about 3 s) and waits for the DHT to know one of them. */
  private async join (signal?: AbortSignal): Promise<void> {
    if (this.bootstrap.length === 0) return
    const dial = async (addr: string): Promise<void> => {
      for (let attempt = 1; ; attempt++) { // a busy peer may refuse a connection now and then
        try {
          await this.libp2p.dial(multiaddr(addr), { signal })
          return
        } catch (err) {
          if (attempt === 5 || signal?.aborted === true || (err as Error).name === 'UnexpectedPeerError') throw err
          await new Promise(resolve => setTimeout(resolve, 300 * attempt))
        }
      }
    }
    const results = await Promise.allSettled(this.bootstrap.map(dial))
    const failed = results.filter(r => r.status === 'rejected')
    for (const r of failed) log('bootstrap dial failed: %s', (r.reason as Error).message)
    if (failed.length === this.bootstrap.length) {
      throwIfAborted(signal)
      const reason = failed[0]!.reason as Error
      throw new NetworkError('PEER_UNREACHABLE', `could not reach any bootstrap peer (${this.bootstrap.join(', ')}): ${reason.message}${swarmKeyHint(reason, this.keyed)}`)
    }
    // DHT queries go to routing-table peers, which identify adds shortly after the dial
    for (let waited = 0; this.routingTableSize === 0 && waited < 5000; waited += 20) {
      throwIfAborted(signal)
      await new Promise(resolve => setTimeout(resolve, 20))
    }
  }

  /** A DHT server behind NAT cannot be dialed directly: it serves the DHT again only once public. */
  private followReach (dhtServer: boolean): void {
    if (!dhtServer) return
    this.reachState.onChange(reach => {
      const dht = this.libp2p.services.dht as SingleKadDHT
      void dht.setMode(reach === 'nat' ? 'client' : 'server').catch(err => { log('DHT mode: %s', (err as Error).message) })
    })
  }

  /** One debug line per connection, saying whether it is direct or relayed (DEBUG=gridllm:net:node). */
  private logConnections (): void {
    this.libp2p.addEventListener('connection:open', evt => {
      const c = evt.detail
      log('connection %s %s %s: %s', c.direction, c.direction === 'inbound' ? 'from' : 'to', c.remotePeer.toString().slice(-8), isRelayed(c.remoteAddr) ? 'relayed' : 'direct')
    })
  }

  /** Connects to peers found on the LAN (mDNS), so the DHT knows them. */
  private dialDiscovered (): void {
    this.libp2p.addEventListener('peer:discovery', evt => {
      const { id, multiaddrs } = evt.detail
      if (id.equals(this.libp2p.peerId) || this.libp2p.getConnections(id).length > 0 || multiaddrs.length === 0) return
      log('found %s on the LAN', id.toString().slice(-8))
      this.libp2p.dial(multiaddrs).catch(err => { log('dialing %s (LAN): %s', id.toString().slice(-8), (err as Error).message) })
    })
  }

  /** Waits until the DHT knows some peer (one found on the LAN), for up to `ms`; whether it does. */
  async waitForPeers (ms: number, signal?: AbortSignal): Promise<boolean> {
    for (let waited = 0; this.routingTableSize === 0 && waited < ms; waited += 50) {
      throwIfAborted(signal)
      await new Promise(resolve => setTimeout(resolve, 50))
    }
    return this.routingTableSize > 0
  }

  /** Whether others can dial this node: public (confirmed by AutoNAT), behind NAT, or local (LAN, loopback). */
  get reach (): Reach {
    return this.reachState.reach
  }

  /** Whether this node is behind NAT and reachable only through a relay (it announces a relayed address). */
  get relayed (): boolean {
    return this.reach === 'nat' && this.addresses.some(a => isRelayed(a))
  }

  /** Calls `handler` when AutoNAT's verdict on this node changes (public, behind NAT, local). */
  onReachChange (handler: (reach: Reach) => void): void {
    this.reachState.onChange(handler)
  }

  /** Calls `handler` when this node's addresses (or protocols) change, e.g. a relay slot was reserved. */
  onAddressesChange (handler: () => void): void {
    this.libp2p.addEventListener('self:peer:update', () => { handler() })
  }

  private get routingTableSize (): number {
    return (this.libp2p.services.dht as SingleKadDHT).routingTable.size
  }

  /** Before a DHT operation: a node whose routing table emptied (peers gone or evicted) rejoins through its bootstrap peers. */
  private async ensureRouting (signal?: AbortSignal): Promise<void> {
    if (this.routingTableSize > 0 || this.bootstrap.length === 0) return
    log('the DHT routing table is empty; rejoining through the bootstrap peers')
    await this.join(signal).catch(err => { log('rejoin failed: %s', (err as Error).message) })
  }

  get peerId (): string {
    return this.libp2p.peerId.toString()
  }

  /**
   * Dialable addresses of this node, each ending in /p2p/<peer id>: those libp2p confirmed (private
   * ones, relayed ones, public ones AutoNAT verified) and the ones it listens on, which a public
   * host's first peers need before anyone could verify them.
   */
  get addresses (): string[] {
    const own = `/p2p/${this.peerId}`
    const all = [...this.libp2p.getMultiaddrs().map(a => a.toString()), ...this.reachState.listenAddrs().map(a => `${a.toString()}${own}`)]
    return [...new Set(all)]
  }

  /** Peers this node has an open connection to. */
  get connectedPeers (): string[] {
    return this.libp2p.getPeers().map(p => p.toString())
  }

  /** Open connections: to whom, over which address, relayed (limited) or direct, and the protocols of their streams. */
  connections (): ConnectionInfo[] {
    return this.libp2p.getConnections().map(c => ({
      peer: c.remotePeer.toString(),
      addr: c.remoteAddr.toString(),
      direction: c.direction,
      limited: c.limits !== undefined,
      protocols: c.streams.map(st => st.protocol ?? '')
    }))
  }

  /** The addresses this node knows for a peer (from identify), each ending in /p2p/<peer id>. */
  async knownAddresses (peer: string): Promise<string[]> {
    try {
      const p = await this.libp2p.peerStore.get(peerIdFromString(peer))
      return p.addresses.map(a => a.multiaddr.encapsulate(`/p2p/${peer}`).toString())
    } catch {
      return []
    }
  }

  /** Calls `handler` when this node's own addresses change (e.g. a relay reservation came or went). */
  onAddressChange (handler: (addrs: string[]) => void): void {
    let last = this.addresses.join(' ')
    this.libp2p.addEventListener('self:peer:update', () => {
      const now = this.addresses.join(' ')
      if (now !== last) { last = now; handler(this.addresses) }
    })
  }

  /** Calls `handler` with the id of every peer this node connects to (either way). */
  onPeerConnect (handler: (peer: string) => void): void {
    this.libp2p.addEventListener('peer:connect', evt => { handler(evt.detail.toString()) })
  }

  /** Calls `handler` with the id of every peer whose last connection to this node closed (it left, died, or was pruned). */
  onPeerDisconnect (handler: (peer: string) => void): void {
    this.libp2p.addEventListener('peer:disconnect', evt => { handler(evt.detail.toString()) })
  }

  /** Whether this node has an open connection to `peer`. */
  isConnected (peer: string): boolean {
    return this.libp2p.getConnections(peerIdFromString(peer)).length > 0
  }

  /**
   * Serves `protocol`: each inbound stream becomes a Channel. The bytes of unfinished messages are
   * bounded per peer and in all; streams per connection are bounded by libp2p.
   */
  async handle (protocol: string, handler: (channel: Channel) => void, options: HandleOptions = {}): Promise<void> {
    const maxMessage = options.maxMessageBytes ?? 64 * 2 ** 20
    const total = new ByteBudget(options.maxBufferedBytes ?? 8 * maxMessage)
    const perPeer = options.maxBufferedBytesPerPeer ?? 2 * maxMessage
    await this.libp2p.handle(protocol, (stream, connection) => {
      const peer = connection.remotePeer.toString()
      const budget = this.activity.budget(peer, () => new ByteBudget(perPeer, total))
      handler(this.activity.track(new Channel(stream, peer, { ...options, budget, onActivity: () => { this.activity.touch(peer) } })))
    }, {
      maxInboundStreams: options.maxStreamsPerConnection ?? 256,
      maxOutboundStreams: options.maxStreamsPerConnection ?? 256,
      // relayed connections are a fallback with raised limits (reach.ts), good for tensor hops
      runOnLimitedConnection: true
    })
  }

  /** Stops serving `protocol` (a node that outlives its server, such as a tab's). */
  async unhandle (protocol: string): Promise<void> {
    await this.libp2p.unhandle(protocol)
  }

  /** Opens a stream for `protocol` to a peer (dialing it if needed). */
  async open (peer: PeerAddress, protocol: string, options: ChannelOptions & { signal?: AbortSignal, timeoutMs?: number } = {}): Promise<Channel> {
    const target = this.dialTarget(peer)
    const d = deadline(options.timeoutMs ?? 15_000, options.signal, () => new NetworkError('TIMEOUT', `opening ${protocol} to ${peer.id.slice(-8)} timed out`))
    try {
      const streamOptions = { signal: d.signal, maxOutboundStreams: 1024, runOnLimitedConnection: true }
      // libp2p dials anew rather than reuse a relayed connection: with no address to dial, answer
      // back over the relayed one the peer opened (a tab asking its client for its chain)
      const conns = Array.isArray(target) ? [] : this.libp2p.getConnections(target as PeerId).filter(c => c.status === 'open')
      const relayed = conns.every(c => c.limits !== undefined) ? conns[0] : undefined
      const stream = relayed !== undefined
        ? await relayed.newStream(protocol, streamOptions as Parameters<typeof relayed.newStream>[1])
        : await this.libp2p.dialProtocol(target, protocol, streamOptions as Parameters<Libp2p['dialProtocol']>[2])
      return this.activity.track(new Channel(stream, peer.id, { ...options, onActivity: () => { this.activity.touch(peer.id) } }))
    } catch (err) {
      throwIfAborted(options.signal)
      throwIfAborted(d.signal)
      throw new NetworkError('PEER_UNREACHABLE', `cannot open ${protocol} to ${peer.id.slice(-8)}: ${(err as Error).message}${swarmKeyHint(err as Error, this.keyed)}`, { cause: err })
    } finally {
      d.clear()
    }
  }

  /** Open streams over all connections, per protocol (for tests and diagnostics). */
  streamCounts (): Record<string, number> {
    const counts: Record<string, number> = {}
    for (const c of this.libp2p.getConnections()) {
      for (const s of c.streams) counts[s.protocol ?? '?'] = (counts[s.protocol ?? '?'] ?? 0) + 1
    }
    return counts
  }

  /** Open connections (to distinct or the same peers). */
  get connectionCount (): number {
    return this.libp2p.getConnections().length
  }

  /** Round-trip time to a peer in ms (libp2p ping). */
  async ping (peer: PeerAddress, options: { signal?: AbortSignal, timeoutMs?: number } = {}): Promise<number> {
    const d = deadline(options.timeoutMs ?? 5000, options.signal)
    try {
      return await this.libp2p.services.ping.ping(this.dialTarget(peer), { signal: d.signal })
    } catch (err) {
      throwIfAborted(options.signal)
      throw new NetworkError('PEER_UNREACHABLE', `cannot ping ${peer.id.slice(-8)}: ${(err as Error).message}`, { cause: err })
    } finally {
      d.clear()
    }
  }

  /** This peer's Ed25519 signature over `bytes` (callers put a domain prefix in them). */
  async sign (bytes: Uint8Array): Promise<Uint8Array> {
    return await this.privateKey.sign(bytes)
  }

  /** The signed envelope of a record payload under this peer's key. */
  async signRecord (payload: Uint8Array, key = recordKey(this.peerId)): Promise<Uint8Array> {
    const signature = await this.privateKey.sign(signedBytes(key, payload))
    const value = new Uint8Array(4 + payload.byteLength + signature.byteLength)
    new DataView(value.buffer).setUint32(0, payload.byteLength, true)
    value.set(payload, 4)
    value.set(signature, 4 + payload.byteLength)
    return value
  }

  /** Signs and publishes this peer's record in the DHT. */
  async putRecord (payload: Uint8Array, options: { signal?: AbortSignal } = {}): Promise<void> {
    const value = await this.signRecord(payload)
    this.ownRecord = value
    await this.ensureRouting(options.signal)
    await this.drain(this.libp2p.services.dht.put(recordKey(this.peerId), value, dhtOptions(options)), 'put')
  }

  /**
   * A peer's verified record payload, or undefined if none is found. Given the peer's addresses
   * (from its provider records), the peer is asked first (its latest record, one stream); the DHT
   * is asked when it cannot answer.
   */
  async getRecord (peer: string, options: { signal?: AbortSignal, addrs?: readonly string[] } = {}): Promise<Uint8Array | undefined> {
    if (options.addrs !== undefined) {
      try {
        const direct = await this.fetchRecord({ id: peer, addrs: options.addrs }, options.signal)
        if (direct !== undefined) return direct
      } catch (err) {
        throwIfAborted(options.signal)
        log('record of %s from itself: %s', peer.slice(-8), (err as Error).message)
      }
    }
    const key = recordKey(peer)
    const found: Uint8Array[] = []
    await this.ensureRouting(options.signal)
    try {
      for await (const event of this.libp2p.services.dht.get(key, dhtOptions(options))) {
        if (event.name === 'VALUE') {
          try {
            found.push(await this.checkRecord(peer, event.value))
          } catch (err) {
            log('dropping a record for %s from %s: %s', peer.slice(-8), event.from.toString().slice(-8), (err as Error).message)
          }
        }
      }
    } catch (err) {
      throwIfAborted(options.signal)
      if (found.length === 0) log('get record %s: %s', peer.slice(-8), (err as Error).message)
    }
    if (found.length === 0) return undefined
    return found[this.rules?.select(found) ?? 0]
  }

  /** The record `peer` itself holds, checked; undefined if it has none yet. */
  private async fetchRecord (peer: PeerAddress, signal: AbortSignal | undefined): Promise<Uint8Array | undefined> {
    const envelope = await withDeadline(RECORD_FETCH_TIMEOUT_MS, signal, async limit => {
      const channel = await this.open(peer, RECORD_PROTOCOL, { signal: limit, maxMessageBytes: MAX_RECORD_BYTES })
      try {
        return await requestRecord(channel, limit)
      } finally {
        await channel.close().catch(() => {})
      }
    }, () => new NetworkError('TIMEOUT', `${peer.id.slice(-8)} did not send its record in ${RECORD_FETCH_TIMEOUT_MS} ms`))
    return envelope === undefined ? undefined : await this.checkRecord(peer.id, envelope)
  }

  /** The payload of `peer`'s envelope: signed by it (each distinct envelope checked once) and valid by the rules now. */
  private async checkRecord (peer: string, envelope: Uint8Array): Promise<Uint8Array> {
    let payload = this.verified.get(peer, envelope)
    if (payload === undefined) {
      payload = await verifyRecord(recordKey(peer), envelope)
      this.verified.set(peer, envelope, payload)
    }
    this.rules?.validate(payload)
    return payload
  }

  /** Announces that this peer provides `topic`. */
  async provide (topic: string, options: { signal?: AbortSignal } = {}): Promise<void> {
    await this.ensureRouting(options.signal)
    await this.drain(this.libp2p.services.dht.provide(await topicCid(topic), dhtOptions(options)), 'provide')
  }

  /** Peers that announced `topic`. */
  async findProviders (topic: string, options: { signal?: AbortSignal } = {}): Promise<PeerAddress[]> {
    const found = new Map<string, Set<string>>()
    await this.ensureRouting(options.signal)
    try {
      for await (const event of this.libp2p.services.dht.findProviders(await topicCid(topic), dhtOptions(options))) {
        if (event.name !== 'PROVIDER') continue
        for (const p of event.providers) {
          const addrs = found.get(p.id.toString()) ?? new Set<string>()
          for (const a of p.multiaddrs) addrs.add(a.toString())
          found.set(p.id.toString(), addrs)
        }
      }
    } catch (err) {
      throwIfAborted(options.signal)
      log('find providers of %s: %s', topic, (err as Error).message)
    }
    return [...found].map(([id, addrs]) => ({ id, addrs: [...addrs] }))
  }

  async stop (): Promise<void> {
    this.activity.stop()
    await this.libp2p.stop()
  }

  private dialTarget (peer: PeerAddress): Multiaddr[] | PeerId {
    const id = peerIdFromString(peer.id)
    // reuse a direct connection; over a relayed (limited) one, try the peer's addresses for a direct one first
    if (this.libp2p.getConnections(id).some(c => c.limits === undefined) || peer.addrs.length === 0) return id
    // a relayed address names the relay's id inside it: only one ending in the peer's id is complete
    return (this.transports.preferDial?.(peer.addrs) ?? peer.addrs).map(a => {
      const ma = multiaddr(a)
      return a.endsWith(`/p2p/${peer.id}`) ? ma : ma.encapsulate(`/p2p/${peer.id}`)
    })
  }

  private async drain (events: AsyncIterable<{ name: string }>, what: string): Promise<void> {
    try {
      for await (const _ of events) { /* run the query to its end */ }
    } catch (err) {
      if (isAbortError(err)) throw err
      throw new NetworkError('PEER_UNREACHABLE', `DHT ${what} failed: ${(err as Error).message}`, { cause: err })
    }
  }
}

/** Splits "/ip4/.../p2p/<id>" into a PeerAddress. */
export function parsePeerAddress (addr: string): PeerAddress {
  let ma: Multiaddr
  try {
    ma = multiaddr(addr)
  } catch (err) {
    throw new InvalidArgumentError(`bad multiaddr "${addr}": ${(err as Error).message}`)
  }
  const id = ma.getComponents().findLast(c => c.name === 'p2p')?.value
  if (id === undefined) throw new InvalidArgumentError(`multiaddr "${addr}" has no /p2p/<peer id>`)
  return { id, addrs: [addr.slice(0, addr.lastIndexOf('/p2p/'))] }
}

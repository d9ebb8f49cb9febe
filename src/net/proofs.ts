/**
 * Where fraud proofs live in the swarm, `/gridllm/proofs/1.0.0`. Servers keep the proofs peers hand
 * them and announce each suspect's topic `proofs/<suspect>` in the DHT (only peers with addresses
 * can be providers, so clients hand their proofs to a few servers); anyone finds a suspect's proofs
 * through the providers of that topic and fetches them. A proof travels in an envelope its accuser
 * signed under /gridllm-proof/<suspect>/<accuser>; a server checks only that signature (and sizes),
 * whoever acts on a proof checks its contents (src/verify). What one server keeps is bounded.
 *
 *   peer → server  put {suspect} + envelope     server → peer  stored {} | error
 *   peer → server  get {suspect}                server → peer  proof {accuser} + envelope ..., end {}
 */
import { BadRecordError, ProtocolError } from '../util/errors.ts'
import { logger } from '../util/log.ts'
import { withDeadline } from '../util/timeout.ts'
import type { Channel, Message } from './channel.ts'
import { type NetNode, type PeerAddress, proofKey, verifyRecord } from './node.ts'

const log = logger('net:proofs')

export const PROOFS_PROTOCOL = '/gridllm/proofs/1.0.0'
export const MAX_PROOF_BYTES = 16 * 2 ** 20
/** accusers kept per suspect, and suspects in all: the first come stay */
const PER_SUSPECT = 32
const SUSPECTS = 1024
const PEER_ID = /^[1-9A-HJ-NP-Za-km-z]{40,100}$/

/** A server's store of proofs, served over PROOFS_PROTOCOL. */
export class ProofStore {
  /** suspect → accuser → signed envelope */
  private readonly proofs = new Map<string, Map<string, Uint8Array>>()

  constructor (private readonly node: NetNode) {}

  async start (): Promise<void> {
    await this.node.handle(PROOFS_PROTOCOL, channel => {
      channel.onMessage(msg => { void this.answer(channel, msg) })
    }, { maxMessageBytes: MAX_PROOF_BYTES + 4096, maxStreamsPerConnection: 8 })
  }

  /** Envelopes against `suspect`: [accuser, envelope]. */
  get (suspect: string): Array<[string, Uint8Array]> {
    return [...this.proofs.get(suspect) ?? []]
  }

  /** Keeps an envelope if its accuser signed it; announces the suspect's topic. */
  async put (suspect: string, accuser: string, envelope: Uint8Array): Promise<void> {
    if (!PEER_ID.test(suspect) || !PEER_ID.test(accuser)) throw new BadRecordError('bad peer id')
    await verifyRecord(proofKey(suspect, accuser), envelope)
    let mine = this.proofs.get(suspect)
    if (mine === undefined) {
      if (this.proofs.size >= SUSPECTS) throw new BadRecordError('this server keeps no more proofs')
      mine = new Map()
      this.proofs.set(suspect, mine)
    }
    if (mine.has(accuser) || mine.size >= PER_SUSPECT) return
    mine.set(accuser, envelope)
    await this.node.provide(`proofs/${suspect}`).catch(err => { log('announcing proofs of %s: %s', suspect.slice(-8), (err as Error).message) })
  }

  private async answer (channel: Channel, msg: Message): Promise<void> {
    const { t, suspect, accuser } = msg.header
    try {
      if (typeof suspect !== 'string') throw new ProtocolError('BAD_MESSAGE', '"suspect" is required')
      if (t === 'put') {
        if (typeof accuser !== 'string') throw new ProtocolError('BAD_MESSAGE', '"accuser" is required')
        await this.put(suspect, accuser, msg.payload)
        await channel.send({ t: 'stored' })
      } else if (t === 'get') {
        for (const [a, envelope] of this.get(suspect)) await channel.send({ t: 'proof', accuser: a }, envelope)
        await channel.send({ t: 'end' })
      } else {
        throw new ProtocolError('BAD_MESSAGE', `unknown message "${String(t).slice(0, 32)}"`)
      }
    } catch (err) {
      await channel.send({ t: 'error', code: (err as { code?: string }).code ?? 'INTERNAL', message: (err as Error).message }).catch(() => {})
    }
  }
}

/**
 * Publishes this peer's proof against `suspect`: signed, and handed to up to three of `servers`
 * (never the suspect), which keep it and announce it. Resolves with how many took it.
 */
export async function publishProof (node: NetNode, servers: readonly PeerAddress[], suspect: string, payload: Uint8Array, options: { signal?: AbortSignal } = {}): Promise<number> {
  const envelope = await node.signRecord(payload, proofKey(suspect, node.peerId))
  const hosts = servers.filter(s => s.id !== suspect && s.id !== node.peerId).slice(0, 3)
  const results = await Promise.allSettled(hosts.map(async h => { await pushProof(node, h, suspect, envelope, options) }))
  for (const r of results) if (r.status === 'rejected') log('a server did not take the proof: %s', (r.reason as Error).message)
  return results.filter(r => r.status === 'fulfilled').length
}

/** Every proof against `suspect` the swarm keeps: [accuser, payload], from up to three of the servers that announced it. */
export async function findProofs (node: NetNode, suspect: string, options: { signal?: AbortSignal } = {}): Promise<Array<[string, Uint8Array]>> {
  const hosts = (await node.findProviders(`proofs/${suspect}`, options)).filter(h => h.id !== suspect).slice(0, 3)
  const byAccuser = new Map<string, Uint8Array>()
  await Promise.all(hosts.map(async h => {
    for (const [a, p] of await fetchProofs(node, h, suspect, options).catch(() => [])) byAccuser.set(a, p)
  }))
  return [...byAccuser]
}

/** Hands `accuser`'s signed envelope against `suspect` to `server`. */
export async function pushProof (node: NetNode, server: PeerAddress, suspect: string, envelope: Uint8Array, options: { signal?: AbortSignal } = {}): Promise<void> {
  await request(node, server, { t: 'put', suspect, accuser: node.peerId }, envelope, options, m => m.header.t === 'stored' ? true : undefined)
}

/** The proofs `server` keeps against `suspect`: [accuser, payload] with the accusers' signatures checked. */
export async function fetchProofs (node: NetNode, server: PeerAddress, suspect: string, options: { signal?: AbortSignal } = {}): Promise<Array<[string, Uint8Array]>> {
  const found: Array<[string, Uint8Array]> = []
  await request(node, server, { t: 'get', suspect }, undefined, options, m => {
    if (m.header.t === 'end') return true
    const accuser = m.header.accuser
    if (m.header.t === 'proof' && typeof accuser === 'string' && PEER_ID.test(accuser)) found.push([accuser, m.payload])
    return undefined
  })
  const checked = await Promise.all(found.map(async ([a, envelope]) => {
    try { return [a, await verifyRecord(proofKey(suspect, a), envelope)] as [string, Uint8Array] } catch { return undefined }
  }))
  return checked.filter((x): x is [string, Uint8Array] => x !== undefined)
}

/** One request on a fresh stream, reading replies until `done` returns true (or an error reply). */
async function request (node: NetNode, server: PeerAddress, header: { t: string, [k: string]: unknown }, payload: Uint8Array | undefined,
  options: { signal?: AbortSignal }, done: (m: Message) => true | undefined): Promise<void> {
  await withDeadline(10_000, options.signal, async signal => {
    const channel = await node.open(server, PROOFS_PROTOCOL, { signal, maxMessageBytes: MAX_PROOF_BYTES + 4096 })
    try {
      const finished = new Promise<void>((resolve, reject) => {
        channel.onMessage(m => {
          if (m.header.t === 'error') reject(new BadRecordError(`${server.id.slice(-8)}: ${String(m.header.message).slice(0, 200)}`))
          else if (done(m) === true) resolve()
        })
        channel.onClose(err => { reject(err ?? new BadRecordError(`${server.id.slice(-8)} closed the stream`)) })
        signal.addEventListener('abort', () => { reject(signal.reason as Error) }, { once: true })
      })
      await channel.send(header, payload)
      await finished
    } finally {
      await channel.close()
    }
  })
}


/**
 * Fetching weights from the swarm: the manifest from any holder (checked against the model id),
 * then the pieces of the items wanted from every holder at once. Each holder's lanes take the next
 * piece it holds from one shared queue, so faster peers send more; every piece is checked against
 * the manifest before it is stored, and a peer whose bytes fail is caught at that first piece and
 * never asked again. Pieces already in the store are not fetched again (a fetch resumes).
 */
import { Manifest } from '../../model/index.ts'
import { type NetNode, type PeerAddress, WeightsPeer } from '../../net/index.ts'
import { BadModelFileError, type GridError, WeightsError, isAbortError, throwIfAborted } from '../../util/errors.ts'
import { logger } from '../../util/log.ts'
import type { ServerInfo } from '../directory.ts'
import { peerAddress } from '../directory.ts'
import type { PieceStore } from './store.ts'

const log = logger('swarm:weights')

/** A peer that says it holds some items. */
export interface WeightsHolder {
  readonly peer: PeerAddress
  holds (item: string): boolean
}

/** The holders a set of server records names (their `weights` field). */
export function recordHolders (servers: readonly ServerInfo[], model: string): WeightsHolder[] {
  return servers.filter(s => s.model === model && s.weights !== undefined && s.state !== 'offline').map(s => {
    const w = s.weights!
    return {
      peer: peerAddress(s),
      holds: (item: string) => {
        const m = /^blk\.(\d+)\./.exec(item)
        if (m !== null) return w.start <= Number(m[1]) && Number(m[1]) < w.end
        return item.includes('.') ? w.ends : true // the tokenizer goes with every holder
      }
    }
  })
}

export interface FetchOptions {
  signal?: AbortSignal
  /** bytes done (stored before or fetched now) of the bytes wanted */
  onProgress?: (done: number, total: number) => void
  /** requests in flight to one peer; default 4 */
  perPeer?: number
  /** one request's timeout; default 30 s */
  timeoutMs?: number
}

export interface FetchReport {
  readonly total: number
  /** bytes that were already in the store */
  readonly reused: number
  /** bytes fetched now, per peer id */
  readonly fromPeers: Readonly<Record<string, number>>
  /** peers caught sending bytes that fail their hash */
  readonly liars: readonly string[]
}

interface Piece { readonly item: string, readonly index: number }

/** how long the first lanes wait for every holder's stream to open */
const START_WAIT_MS = 1000

export class WeightsFetcher {
  /** peers caught lying: never asked again */
  readonly liars = new Set<string>()

  constructor (private readonly node: NetNode, readonly store: PieceStore) {}

  /** The model's manifest: from the store, else from the first holder whose bytes hash to the id. */
  async manifest (model: string, holders: readonly WeightsHolder[], options: { signal?: AbortSignal, timeoutMs?: number } = {}): Promise<Manifest> {
    const stored = await this.store.getManifest(model)
    if (stored !== undefined) {
      try { return Manifest.fromBytes(stored, model) } catch (err) { log('the stored manifest of %s is bad: %s', model.slice(0, 12), (err as Error).message) }
    }
    for (const h of this.usable(holders)) {
      throwIfAborted(options.signal)
      let peer: WeightsPeer | undefined
      try {
        peer = await WeightsPeer.open(this.node, h.peer, options)
        const manifest = Manifest.fromBytes(await peer.manifest(model, options), model)
        await this.store.putManifest(model, manifest.bytes)
        return manifest
      } catch (err) {
        if (isAbortError(err)) throw err
        if (err instanceof BadModelFileError) this.caught(h.peer.id, err.message)
        else log('no manifest from %s: %s', h.peer.id.slice(-8), (err as Error).message)
      } finally {
        await peer?.close()
      }
    }
    throw new WeightsError('WEIGHTS_UNAVAILABLE', `no reachable peer sent the manifest of model ${model}`)
  }

  /** Fetches every piece of `items` not yet in the store. */
  async fetch (manifest: Manifest, items: readonly string[], holders: readonly WeightsHolder[], options: FetchOptions = {}): Promise<FetchReport> {
    const { signal } = options
    const queue: Piece[] = []
    let total = 0
    let reused = 0
    for (const name of items) {
      const item = manifest.item(name)
      if (item === undefined) throw new WeightsError('WEIGHTS_UNAVAILABLE', `model ${manifest.id.slice(0, 12)} has no item ${name}`)
      const have = await this.store.pieces(manifest.id, name)
      for (let i = 0; i < manifest.pieceCount(item); i++) {
        const bytes = manifest.pieceRange(item, i)[1]
        total += bytes
        if (have.has(i)) reused += bytes
        else queue.push({ item: name, index: i })
      }
    }
    let done = reused
    options.onProgress?.(done, total)
    const fromPeers: Record<string, number> = {}
    const liarsBefore = new Set(this.liars)
    let inFlight = 0
    let wake = Promise.withResolvers<void>()
    const notify = (): void => { const w = wake; wake = Promise.withResolvers<void>(); w.resolve() }
    let failure: unknown

    const runHolder = async (h: WeightsHolder, opening: Promise<WeightsPeer>, started: Promise<unknown>): Promise<void> => {
      const id = h.peer.id
      const lacks = new Set<string>() // items it said it does not have after all
      let dropped = false
      let peer: WeightsPeer
      try {
        peer = await opening
      } catch {
        return
      }
      await started
      const lane = async (): Promise<void> => {
        for (;;) {
          if (dropped || this.liars.has(id) || failure !== undefined) return
          const at = queue.findIndex(p => h.holds(p.item) && !lacks.has(p.item))
          if (at < 0) {
            if (inFlight === 0) return // nothing left that this peer could send, and nothing that may come back
            await wake.promise
            continue
          }
          const piece = queue.splice(at, 1)[0]!
          const item = manifest.item(piece.item)!
          const [offset, length] = manifest.pieceRange(item, piece.index)
          inFlight++
          try {
            const bytes = await peer.get(manifest.id, piece.item, offset, length, { signal, timeoutMs: options.timeoutMs })
            if (!manifest.verifyPiece(item, piece.index, bytes)) throw new WeightsError('BAD_PIECE', `piece ${piece.index} of ${piece.item} from ${id.slice(-8)} fails its SHA-256`)
            await this.store.putPiece(manifest.id, piece.item, piece.index, bytes)
            done += length
            fromPeers[id] = (fromPeers[id] ?? 0) + length
            options.onProgress?.(done, total)
          } catch (err) {
            queue.push(piece)
            const code = (err as GridError).code
            if (isAbortError(err) && signal?.aborted === true) failure ??= err
            else if (code === 'BAD_PIECE') this.caught(id, (err as Error).message)
            else if (code === 'WEIGHTS_UNAVAILABLE') lacks.add(piece.item)
            else { dropped = true; log('dropping %s as a weights source: %s', id.slice(-8), (err as Error).message) }
          } finally {
            inFlight--
            notify()
          }
        }
      }
      await Promise.all(Array.from({ length: options.perPeer ?? 4 }, lane))
      await peer.close()
    }

    if (queue.length > 0) {
      // every holder's lanes start together once its stream is open (or a moment has passed), so the
      // first pieces go to all of them, not to whichever answered the dial first
      const opens = this.usable(holders).map(h => ({ h, peer: WeightsPeer.open(this.node, h.peer, { signal }) }))
      for (const o of opens) o.peer.catch(err => { log('cannot reach %s for weights: %s', o.h.peer.id.slice(-8), (err as Error).message) })
      const started = Promise.race([Promise.allSettled(opens.map(async o => await o.peer)), new Promise(resolve => setTimeout(resolve, START_WAIT_MS))])
      await Promise.all(opens.map(async o => { await runHolder(o.h, o.peer, started) }))
      if (failure !== undefined) throw failure
      throwIfAborted(signal)
      if (queue.length > 0) {
        const names = [...new Set(queue.map(p => p.item))]
        throw new WeightsError('WEIGHTS_UNAVAILABLE', `no reachable peer sent ${names.slice(0, 3).join(', ')}${names.length > 3 ? ` and ${names.length - 3} more` : ''} of model ${manifest.id.slice(0, 12)} (${opens.length} peers tried)`)
      }
    }
    log('fetched %d of %d bytes of %s (%d reused) from %o', done - reused, total, manifest.id.slice(0, 12), reused, fromPeers)
    return { total, reused, fromPeers, liars: [...this.liars].filter(p => !liarsBefore.has(p)) }
  }

  private usable (holders: readonly WeightsHolder[]): WeightsHolder[] {
    return holders.filter(h => !this.liars.has(h.peer.id) && h.peer.id !== this.node.peerId)
  }

  private caught (peer: string, why: string): void {
    if (this.liars.has(peer)) return
    this.liars.add(peer)
    log('%s sent bad weights and will not be asked again: %s', peer.slice(-8), why)
  }
}

/** Items a span server needs: its blocks and the tokenizer (which it passes on). */
export function serverItems (manifest: Manifest, start: number, end: number): string[] {
  return manifest.itemsFor(start, end, { tokenizer: true })
}

/** Items a client needs: the ends and the tokenizer. */
export function clientItems (manifest: Manifest): string[] {
  return manifest.itemsFor(0, 0, { ends: true, tokenizer: true })
}

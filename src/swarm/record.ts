/**
 * What a server announces, and how readers check it. Each server publishes one signed record under
 * its own peer id (see net/node.ts) and a DHT provider record per block it serves
 * (topic `model/<id>/block/<b>`), plus the index topic `servers` so status can list every model.
 */
import { BadRecordError } from '../util/errors.ts'

export type ServerState = 'joining' | 'online' | 'offline'

/** Where a server runs: a native process or a browser tab. */
export type Platform = 'node' | 'browser'

/** The weights a server sends over /gridllm/weights/1.0.0: blocks [start, end), the ends (embedding, norm, head) if set; always the manifest and tokenizer. */
export interface HeldWeights {
  readonly start: number
  readonly end: number
  readonly ends: boolean
}

export interface ServerRecord {
  /** record format */
  readonly v: 1
  readonly peer: string
  /** public name (--name), may be empty */
  readonly name: string
  readonly model: string
  readonly modelName: string
  readonly nLayers: number
  /** the span served, [start, end) */
  readonly start: number
  readonly end: number
  readonly state: ServerState
  /** measured single-token steps per second through the whole span */
  readonly throughput: number
  /** tokens of KV cache (over the whole span) still free for new sessions */
  readonly freeCacheTokens: number
  /** the gridllm version */
  readonly version: string
  readonly addrs: readonly string[]
  /**
   * 'direct': dialable at its own addresses (public, or on the same LAN); 'relayed': behind NAT,
   * reachable through the relay in its relayed address (routes prefer direct servers). Absent in
   * records of older servers: direct.
   */
  readonly reach?: 'direct' | 'relayed'
  /** round trips (ms) to a few servers of the following blocks */
  readonly pings: Readonly<Record<string, number>>
  /** credits: µcr per block-token a session pays (absent or 0: free), and the unsettled µcr to settle at */
  readonly price?: number
  readonly payThreshold?: number
  /**
   * credits: µcr this server's account has earned over its ledger, as the server reports it (a claim
   * for people to read, e.g. the dashboard; nothing checks it or acts on it). Absent: not reported.
   */
  readonly earned?: number
  /** ms since the epoch */
  readonly issuedAt: number
  readonly expiresAt: number
  /** absent in records of older servers: node */
  readonly platform?: Platform
  /** absent when the server sends no weights */
  readonly weights?: HeldWeights
  /** sessions open now */
  readonly sessions?: number
}

/** the longest validity a record may claim */
export const MAX_RECORD_TTL_MS = 3600_000
/** how far in the future a record's time may be (clock skew) */
export const MAX_CLOCK_SKEW_MS = 300_000
/** the most µcr a record may report as earned (a billion credits) */
export const MAX_REPORTED_EARNED = 1e15

export const topics = {
  servers: 'servers',
  block: (model: string, block: number) => `model/${model}/block/${block}`
}

export function encodeRecord (r: ServerRecord): Uint8Array {
  return new TextEncoder().encode(JSON.stringify(r))
}

const isNum = (v: unknown, min = 0): v is number => typeof v === 'number' && Number.isFinite(v) && v >= min
const isInt = (v: unknown, min = 0): v is number => Number.isSafeInteger(v) && (v as number) >= min

/** Parses and checks a record payload; throws BadRecordError if it is malformed or expired. */
export function decodeRecord (payload: Uint8Array, now = Date.now()): ServerRecord {
  let r: Record<string, unknown>
  try {
    r = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(payload)) as Record<string, unknown>
  } catch {
    throw new BadRecordError('record is not UTF-8 JSON')
  }
  if (typeof r !== 'object' || r === null) throw new BadRecordError('record is not an object')
  if (r.v !== 1) throw new BadRecordError(`unknown record format ${String(r.v)}`)
  for (const key of ['peer', 'name', 'model', 'modelName', 'version'] as const) {
    if (typeof r[key] !== 'string' || (r[key] as string).length > 256) throw new BadRecordError(`record field "${key}" must be a short string`)
  }
  if (!isInt(r.nLayers, 1) || !isInt(r.start) || !isInt(r.end, 1) || (r.start as number) >= (r.end as number) || (r.end as number) > (r.nLayers as number)) {
    throw new BadRecordError('record span must satisfy 0 <= start < end <= nLayers')
  }
  if (r.state !== 'joining' && r.state !== 'online' && r.state !== 'offline') throw new BadRecordError('record state must be joining, online or offline')
  if (!isNum(r.throughput) || !isInt(r.freeCacheTokens)) throw new BadRecordError('record throughput and cache must be non-negative numbers')
  if (!Array.isArray(r.addrs) || r.addrs.length > 16 || !r.addrs.every(a => typeof a === 'string' && a.length < 512)) throw new BadRecordError('record addrs must be a short list of strings')
  if (r.reach !== undefined && r.reach !== 'direct' && r.reach !== 'relayed') throw new BadRecordError('record reach must be direct or relayed')
  const pings = r.pings
  if (typeof pings !== 'object' || pings === null || Object.keys(pings).length > 16 || !Object.values(pings).every(v => isNum(v))) {
    throw new BadRecordError('record pings must map peer ids to round trips')
  }
  if ((r.price !== undefined && !isInt(r.price)) || (r.payThreshold !== undefined && !isInt(r.payThreshold))) throw new BadRecordError('record price and payThreshold must be non-negative integers')
  if (r.earned !== undefined && !(isInt(r.earned) && (r.earned as number) <= MAX_REPORTED_EARNED)) throw new BadRecordError(`record earned must be an integer from 0 to ${MAX_REPORTED_EARNED}`)
  if (r.platform !== undefined && r.platform !== 'node' && r.platform !== 'browser') throw new BadRecordError('record platform must be node or browser')
  if (r.sessions !== undefined && !isInt(r.sessions)) throw new BadRecordError('record sessions must be a non-negative integer')
  if (r.weights !== undefined) {
    const w = r.weights as Record<string, unknown>
    if (typeof w !== 'object' || w === null || !isInt(w.start) || !isInt(w.end) || (w.start as number) > (w.end as number) || (w.end as number) > (r.nLayers as number) || typeof w.ends !== 'boolean') {
      throw new BadRecordError('record weights must be {start, end, ends} within the model')
    }
  }
  if (!isNum(r.issuedAt) || !isNum(r.expiresAt)) throw new BadRecordError('record times must be numbers')
  const issuedAt = r.issuedAt
  const expiresAt = r.expiresAt
  if (issuedAt > now + MAX_CLOCK_SKEW_MS) throw new BadRecordError('record is issued in the future')
  if (expiresAt <= now) throw new BadRecordError('record has expired')
  if (expiresAt - issuedAt > MAX_RECORD_TTL_MS) throw new BadRecordError(`record claims more than ${MAX_RECORD_TTL_MS} ms of validity`)
  return r as unknown as ServerRecord
}

/** Of several payloads for one key, the newest valid one. */
export function selectNewest (payloads: readonly Uint8Array[]): number {
  let best = 0
  let bestAt = -1
  payloads.forEach((p, i) => {
    try {
      const at = decodeRecord(p).issuedAt
      if (at > bestAt) { best = i; bestAt = at }
    } catch { /* invalid ones lose */ }
  })
  return best
}

export const recordRules = {
  validate: (payload: Uint8Array): void => { decodeRecord(payload) },
  select: selectNewest
}

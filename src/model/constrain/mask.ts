/**
 * Token masks: which tokens may come next from a matcher state, found by one walk of the token
 * trie (a dead prefix skips its whole subtree). Masks are cached per token table by grammar and
 * state key, so a state seen before (the inside of a string, the same key of the same object)
 * costs one lookup; the cache is bounded in bytes.
 */
import type { TokenTable } from '../tokenizer/table.ts'
import { type State, stateRemaining, stepState } from './frames.ts'

/** The tokens allowed, or (when that list is shorter) the tokens refused. */
export interface Mask {
  readonly ids: Int32Array
  readonly allowed: boolean
}

/** Allowed tokens from `state`; with `budget`, only those after which the value can still be finished in budget - 1 tokens. */
export function walkMask (table: TokenTable, state: State, budget?: number): Int32Array {
  const { nodes, byte, depth, end, tokenStart, ids } = table
  const stack: Array<State | null> = new Array(table.depthMax + 1)
  stack[0] = state
  let out = new Int32Array(1024)
  let count = 0
  for (let i = 0; i < nodes;) {
    const s = stepState(stack[depth[i]! - 1]!, byte[i]!)
    if (s === null) { i = end[i]!; continue }
    stack[depth[i]!] = s
    const from = tokenStart[i]!
    const to = tokenStart[i + 1]!
    if (to > from && (budget === undefined || stateRemaining(s) <= budget - 1)) {
      if (count + (to - from) > out.length) { const grown = new Int32Array(out.length * 2 + (to - from)); grown.set(out); out = grown }
      for (let k = from; k < to; k++) out[count++] = ids[k]!
    }
    i++
  }
  return out.slice(0, count)
}

export function toMask (allowedIds: Int32Array, vocabSize: number): Mask {
  if (allowedIds.length <= vocabSize / 2) return { ids: allowedIds, allowed: true }
  const ok = new Uint8Array(vocabSize)
  for (const id of allowedIds) ok[id] = 1
  const blocked = new Int32Array(vocabSize - allowedIds.length)
  let n = 0
  for (let id = 0; id < vocabSize; id++) if (ok[id] === 0) blocked[n++] = id
  return { ids: blocked.subarray(0, n), allowed: false }
}

/** Sets every logit the mask refuses to -Infinity, in place. */
export function applyMask (logits: Float32Array, mask: Mask): void {
  const { ids } = mask
  if (!mask.allowed) {
    for (let k = 0; k < ids.length; k++) logits[ids[k]!] = -Infinity
    return
  }
  const keep = new Float32Array(ids.length)
  for (let k = 0; k < ids.length; k++) keep[k] = logits[ids[k]!]!
  logits.fill(-Infinity)
  for (let k = 0; k < ids.length; k++) logits[ids[k]!] = keep[k]!
}

const CACHE_BYTES = 64 * 2 ** 20

/** Masks by `${grammar}|${state}`, least recently used dropped first beyond CACHE_BYTES. */
export class MaskCache {
  private readonly masks = new Map<string, Mask>()
  private bytes = 0
  hits = 0
  misses = 0

  constructor (private readonly maxBytes = CACHE_BYTES) {}

  get (key: string, compute: () => Mask): Mask {
    const hit = this.masks.get(key)
    if (hit !== undefined) {
      this.masks.delete(key)
      this.masks.set(key, hit)
      this.hits++
      return hit
    }
    this.misses++
    const mask = compute()
    this.masks.set(key, mask)
    this.bytes += mask.ids.byteLength + key.length * 2
    for (const [k, m] of this.masks) {
      if (this.bytes <= this.maxBytes) break
      this.masks.delete(k)
      this.bytes -= m.ids.byteLength + k.length * 2
    }
    return mask
  }
}

const caches = new WeakMap<TokenTable, MaskCache>()

export function maskCache (table: TokenTable): MaskCache {
  let c = caches.get(table)
  if (c === undefined) { c = new MaskCache(); caches.set(table, c) }
  return c
}

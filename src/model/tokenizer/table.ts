/**
 * Every token's bytes, computed once per tokenizer, and a byte trie over them laid out in preorder:
 * node i's subtree is [i, end[i]), so a walk can skip a whole subtree by jumping to end[i]. The
 * constrained decoder walks it once per grammar state; the API's length check uses maxBytes.
 */
import type { Tokenizer } from './types.ts'

export class TokenTable {
  readonly vocabSize: number
  /** the longest token, in bytes */
  readonly maxBytes: number
  /** the deepest trie node (= maxBytes) */
  readonly depthMax: number
  /** trie nodes (the root is implicit and not counted) */
  readonly nodes: number
  /** per node: its byte, its depth (1 = a child of the root), the index after its subtree */
  readonly byte: Uint8Array
  readonly depth: Uint16Array
  readonly end: Int32Array
  /** the tokens whose bytes end at node i: ids[tokenStart[i] .. tokenStart[i + 1]) */
  readonly tokenStart: Int32Array
  readonly ids: Int32Array
  /** how many single-byte tokens exist, by byte (a grammar can always be finished byte by byte if all do) */
  readonly byteTokens: Uint8Array
  private readonly bytes: Uint8Array[]

  constructor (tokenizer: Tokenizer) {
    const V = tokenizer.vocabSize
    this.vocabSize = V
    this.bytes = Array.from({ length: V }, (_, id) => tokenizer.tokenBytes(id))
    const order = [...this.bytes.keys()].filter(id => this.bytes[id]!.length > 0)
    order.sort((a, b) => compare(this.bytes[a]!, this.bytes[b]!) || a - b)
    this.maxBytes = order.reduce((m, id) => Math.max(m, this.bytes[id]!.length), 0)
    this.depthMax = this.maxBytes
    this.byteTokens = new Uint8Array(256)

    // preorder construction from the sorted list: each token adds the nodes past its common
    // prefix with the previous one
    const byte: number[] = []
    const depth: number[] = []
    const tokenOf: number[] = [] // node index per token in `order`
    const path: number[] = [] // node index per depth-1 on the current path
    let prev: Uint8Array = new Uint8Array(0)
    for (const id of order) {
      const b = this.bytes[id]!
      if (b.length === 1) this.byteTokens[b[0]!]!++
      let common = 0
      while (common < b.length && common < prev.length && b[common] === prev[common]) common++
      for (let d = common; d < b.length; d++) {
        path[d] = byte.length
        byte.push(b[d]!)
        depth.push(d + 1)
      }
      tokenOf.push(path[b.length - 1]!)
      prev = b
    }
    const n = byte.length
    this.nodes = n
    this.byte = Uint8Array.from(byte)
    this.depth = Uint16Array.from(depth)
    this.end = new Int32Array(n)
    // a node's subtree ends at the next node that is not deeper than it
    const open: number[] = []
    for (let i = 0; i < n; i++) {
      while (open.length > 0 && depth[open[open.length - 1]!]! >= depth[i]!) this.end[open.pop()!] = i
      open.push(i)
    }
    for (const i of open) this.end[i] = n
    this.tokenStart = new Int32Array(n + 1)
    for (const node of tokenOf) this.tokenStart[node + 1]!++
    for (let i = 0; i < n; i++) this.tokenStart[i + 1]! += this.tokenStart[i]!
    this.ids = new Int32Array(order.length)
    const fill = this.tokenStart.slice(0, n)
    order.forEach((id, k) => { this.ids[fill[tokenOf[k]!]!++] = id })
  }

  /** The bytes token `id` stands for (empty for control tokens). */
  tokenBytes (id: number): Uint8Array {
    return this.bytes[id] ?? new Uint8Array(0)
  }

  /** Whether every byte has a single-byte token. */
  get hasAllBytes (): boolean {
    return this.byteTokens.every(c => c > 0)
  }
}

function compare (a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length)
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return a[i]! - b[i]!
  return a.length - b.length
}

const tables = new WeakMap<Tokenizer, TokenTable>()

/** The table of a tokenizer, built on first use. */
export function tokenTable (tokenizer: Tokenizer): TokenTable {
  let t = tables.get(tokenizer)
  if (t === undefined) {
    t = new TokenTable(tokenizer)
    tables.set(tokenizer, t)
  }
  return t
}

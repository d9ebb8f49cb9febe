/**
 * A grammar for JSON values: a graph of nodes (a schema compiles to one; refs make it recursive).
 * Each node knows `min`, the fewest bytes of any value it accepts, which lets a generation that
 * runs short of tokens steer towards closing what it opened.
 */

export const UNBOUNDED = Number.MAX_SAFE_INTEGER

/** A set of byte strings (enum values, keys), as a trie; `min`: fewest bytes to a terminal. */
export class LiteralTrie {
  readonly children = new Map<number, LiteralTrie>()
  terminal = false
  /** for object keys: the property index a terminal stands for */
  prop = -1
  min = UNBOUNDED

  constructor (readonly id: number) {}
}

let nextId = 0

interface Base { readonly id: number, min: number }

export interface StringNode extends Base { readonly kind: 'string', readonly minLength: number, readonly maxLength: number }
export interface NumberNode extends Base { readonly kind: 'number', readonly integer: boolean, readonly nonNegative: boolean }
export interface LiteralNode extends Base { readonly kind: 'literal', readonly trie: LiteralTrie }
export interface ArrayNode extends Base { readonly kind: 'array', items: GrammarNode, readonly minItems: number, readonly maxItems: number }
export interface AnyOfNode extends Base { readonly kind: 'anyOf', options: GrammarNode[] }

export interface Property {
  readonly name: string
  /** the key as JSON, quotes included */
  readonly key: Uint8Array
  node: GrammarNode
  readonly required: boolean
}

/**
 * An object: its properties in order (each optional one may be skipped), or, with none, a map whose
 * keys are any strings and whose values are `values`.
 */
export interface ObjectNode extends Base {
  readonly kind: 'object'
  readonly props: Property[]
  values: GrammarNode | undefined
  /** key tries per first allowed property index, built on demand */
  readonly keyTries: Map<number, LiteralTrie>
}

export type GrammarNode = StringNode | NumberNode | LiteralNode | ArrayNode | AnyOfNode | ObjectNode

const utf8 = new TextEncoder()

export const node = {
  string: (minLength = 0, maxLength = UNBOUNDED): StringNode => ({ kind: 'string', id: nextId++, min: minLength + 2, minLength, maxLength }),
  number: (integer: boolean, nonNegative = false): NumberNode => ({ kind: 'number', id: nextId++, min: 1, integer, nonNegative }),
  /** JSON values given as their exact text */
  literal: (texts: readonly string[]): LiteralNode => {
    const trie = new LiteralTrie(nextId++)
    for (const t of texts) {
      let n = trie
      for (const b of utf8.encode(t)) {
        let c = n.children.get(b)
        if (c === undefined) { c = new LiteralTrie(nextId++); n.children.set(b, c) }
        n = c
      }
      n.terminal = true
    }
    setTrieMin(trie, () => 0)
    return { kind: 'literal', id: trie.id, min: trie.min, trie }
  },
  array: (items: GrammarNode, minItems = 0, maxItems = UNBOUNDED): ArrayNode => ({ kind: 'array', id: nextId++, min: UNBOUNDED, items, minItems, maxItems }),
  anyOf: (options: GrammarNode[]): AnyOfNode => ({ kind: 'anyOf', id: nextId++, min: UNBOUNDED, options }),
  object: (props: Property[], values?: GrammarNode): ObjectNode => ({ kind: 'object', id: nextId++, min: UNBOUNDED, props, values, keyTries: new Map() }),
  property: (name: string, n: GrammarNode, required: boolean): Property => ({ name, key: utf8.encode(JSON.stringify(name)), node: n, required })
}

/** Sets `min` on every trie node: bytes to the nearest terminal, plus `extra(prop)` there. */
export function setTrieMin (trie: LiteralTrie, extra: (t: LiteralTrie) => number): number {
  let best = trie.terminal ? extra(trie) : UNBOUNDED
  for (const c of trie.children.values()) best = Math.min(best, 1 + setTrieMin(c, extra))
  trie.min = best
  return best
}

/** Any JSON value (JSON mode): strings, numbers, true/false/null, arrays and objects of any values. */
export function anyValue (): AnyOfNode {
  const any = node.anyOf([])
  any.options.push(node.string(), node.number(false), node.literal(['true', 'false', 'null']), node.array(any), node.object([], any))
  return any
}

// ---- objects: the fewest bytes to finish from each position

/** Index of the first required property at or after i (props.length if none). */
export function firstRequired (o: ObjectNode, i: number): number {
  while (i < o.props.length && !o.props[i]!.required) i++
  return i
}

const entry = (p: Property): number => p.key.length + 1 + p.node.min // "key":value

/** After a value (or the open brace with nothing before): the required properties left, each with its comma, and `}`. */
export function objectRest (o: ObjectNode, i: number, afterOpen: boolean): number {
  let sum = 1
  let first = afterOpen
  for (let p = i; p < o.props.length; p++) {
    if (!o.props[p]!.required) continue
    sum += entry(o.props[p]!) + (first ? 0 : 1)
    first = false
  }
  return sum
}

/** After a comma: one more property at least, the cheapest allowed one, then the rest. */
export function objectAfterComma (o: ObjectNode, i: number): number {
  if (o.props.length === 0) return 2 + 1 + (o.values?.min ?? UNBOUNDED) + 1
  let best = UNBOUNDED
  const last = Math.min(firstRequired(o, i), o.props.length - 1)
  for (let p = i; p <= last; p++) best = Math.min(best, entry(o.props[p]!) + objectRest(o, p + 1, false))
  return best
}

/** The trie of keys allowed next, from property `i` up to the first required one; terminals carry the index. */
export function keyTrie (o: ObjectNode, i: number): LiteralTrie {
  let trie = o.keyTries.get(i)
  if (trie !== undefined) return trie
  trie = new LiteralTrie(nextId++)
  const last = Math.min(firstRequired(o, i), o.props.length - 1)
  for (let p = i; p <= last; p++) {
    let n = trie
    for (const b of o.props[p]!.key) {
      let c = n.children.get(b)
      if (c === undefined) { c = new LiteralTrie(nextId++); n.children.set(b, c) }
      n = c
    }
    n.terminal = true
    n.prop = p
  }
  // a key's trie node counts what is left of the whole object: colon, value, the rest
  setTrieMin(trie, t => 1 + o.props[t.prop]!.node.min + objectRest(o, t.prop + 1, false))
  o.keyTries.set(i, trie)
  return trie
}

/** Computes `min` of every node reachable from `root` (a fixed point: refs may make cycles). */
export function computeMins (root: GrammarNode): void {
  const all: GrammarNode[] = []
  const seen = new Set<GrammarNode>()
  const visit = (n: GrammarNode): void => {
    if (seen.has(n)) return
    seen.add(n)
    all.push(n)
    if (n.kind === 'array') visit(n.items)
    else if (n.kind === 'anyOf') n.options.forEach(visit)
    else if (n.kind === 'object') { n.props.forEach(p => visit(p.node)); if (n.values !== undefined) visit(n.values) }
  }
  visit(root)
  for (let changed = true; changed;) {
    changed = false
    for (const n of all) {
      const m = ownMin(n)
      if (m < n.min) { n.min = m; changed = true }
    }
  }
}

function ownMin (n: GrammarNode): number {
  const cap = (x: number): number => Math.min(x, UNBOUNDED)
  switch (n.kind) {
    case 'string': case 'number': case 'literal': return n.min
    case 'array': return n.minItems === 0 ? 2 : cap(2 + n.minItems * n.items.min + (n.minItems - 1))
    case 'anyOf': return n.options.reduce((m, o) => Math.min(m, o.min), UNBOUNDED)
    case 'object': return n.props.length === 0 ? 2 : cap(1 + objectRest(n, 0, true))
  }
}

/**
 * Frames of values and containers: the start of a value (dispatching on its first byte, to every
 * anyOf branch that can take it), objects (declared keys in order, optional ones skippable, or maps
 * of any keys), their keys, and arrays with bounds.
 */
import { Frame, type State, WS_MAX, isWs } from './frame.ts'
import { type ArrayNode, type GrammarNode, type LiteralTrie, type ObjectNode, UNBOUNDED, firstRequired, keyTrie, node, objectAfterComma, objectRest } from './nodes.ts'
import { N, NumberFrame, StringFrame, literalStep } from './scalars.ts'

export { DoneFrame, type State, stateAccepting, stateDone, stateKey, stateRemaining, stepState } from './frame.ts'

/** The start of a value, after `ws` whitespace bytes. */
export class ValueFrame extends Frame {
  constructor (readonly node: GrammarNode, up: Frame, readonly ws = 0) { super(up) }

  step (b: number): State | null {
    if (isWs(b)) return this.ws < WS_MAX ? new ValueFrame(this.node, this.up!, this.ws + 1) : null
    return startValue(this.node, b, this.up!)
  }

  get canEnd (): boolean { return false }
  get own (): number { return this.node.min }
  get tag (): string { return `V${this.node.id},${this.ws}` }
}

/** The state after the first byte `b` of a value of `n`. */
export function startValue (n: GrammarNode, b: number, up: Frame): State | null {
  switch (n.kind) {
    case 'string': return b === 0x22 ? new StringFrame(n, up, 0) : null
    case 'number':
      if (b === 0x2d) return n.nonNegative ? null : new NumberFrame(n, up, N.MINUS, 0)
      if (b === 0x30) return new NumberFrame(n, up, N.ZERO, 1)
      return b > 0x30 && b <= 0x39 ? new NumberFrame(n, up, N.INT, 1) : null
    case 'literal': return literalStep(n.trie, b, up)
    case 'object': return b === 0x7b ? new ObjectFrame(n, up, O.OPEN, 0, 0) : null
    case 'array': return b === 0x5b ? new ArrayFrame(n, up, A.OPEN, 0, 0) : null
    case 'anyOf': {
      const out: Frame[] = []
      for (const o of n.options) {
        const s = startValue(o, b, up)
        if (s === null) continue
        if (Array.isArray(s)) out.push(...s)
        else out.push(s)
      }
      return out.length === 0 ? null : out.length === 1 ? out[0]! : out
    }
  }
}

const enum O { OPEN, KEY_DONE, AFTER_VALUE, AFTER_COMMA }
const KEY_STRING = node.string()

/**
 * Inside an object. `at`: the next property index that may come (OPEN, AFTER_*), or the property
 * whose key was just read (KEY_DONE; -1 in a map).
 */
class ObjectFrame extends Frame {
  constructor (readonly node: ObjectNode, up: Frame, readonly phase: O, readonly at: number, readonly ws: number) { super(up) }

  private get map (): boolean { return this.node.props.length === 0 }

  private startKey (): State | null {
    if (this.map) return this.node.values === undefined ? null : new StringFrame(KEY_STRING, new ObjectFrame(this.node, this.up!, O.KEY_DONE, -1, 0), 0)
    if (this.at >= this.node.props.length) return null
    return literalKeyStep(this.node, keyTrie(this.node, this.at), 0x22, this.up!)
  }

  private close (): Frame | null {
    return this.map || firstRequired(this.node, this.at) >= this.node.props.length ? this.up : null
  }

  step (b: number): State | null {
    if (isWs(b)) return this.ws < WS_MAX ? new ObjectFrame(this.node, this.up!, this.phase, this.at, this.ws + 1) : null
    switch (this.phase) {
      case O.OPEN: return b === 0x22 ? this.startKey() : b === 0x7d ? this.close() : null
      case O.AFTER_COMMA: return b === 0x22 ? this.startKey() : null
      case O.AFTER_VALUE:
        if (b === 0x7d) return this.close()
        if (b !== 0x2c || (!this.map && this.at >= this.node.props.length)) return null
        return new ObjectFrame(this.node, this.up!, O.AFTER_COMMA, this.at, 0)
      case O.KEY_DONE: {
        if (b !== 0x3a) return null
        const value = this.map ? this.node.values! : this.node.props[this.at]!.node
        return new ValueFrame(value, new ObjectFrame(this.node, this.up!, O.AFTER_VALUE, this.map ? 0 : this.at + 1, 0), 0)
      }
    }
  }

  get canEnd (): boolean { return false }
  get own (): number {
    const o = this.node
    const valueMin = o.values?.min ?? UNBOUNDED
    switch (this.phase) {
      case O.OPEN: return this.map ? 1 : objectRest(o, this.at, true)
      case O.AFTER_VALUE: return this.map ? 1 : objectRest(o, this.at, false)
      case O.AFTER_COMMA: return objectAfterComma(o, this.at)
      case O.KEY_DONE: return this.map ? 1 + valueMin + 1 : 1 + o.props[this.at]!.node.min + objectRest(o, this.at + 1, false)
    }
  }

  get tag (): string { return `O${this.node.id},${this.phase},${this.at},${this.ws}` }
}

function literalKeyStep (o: ObjectNode, t: LiteralTrie, b: number, up: Frame): Frame | null {
  const c = t.children.get(b)
  if (c === undefined) return null
  return c.terminal ? new ObjectFrame(o, up, O.KEY_DONE, c.prop, 0) : new KeyFrame(o, c, up)
}

/** Inside a declared key; `up` is the object's parent (the key's `min` counts the rest of the object). */
class KeyFrame extends Frame {
  constructor (readonly node: ObjectNode, readonly trie: LiteralTrie, up: Frame) { super(up) }
  step (b: number): State | null { return literalKeyStep(this.node, this.trie, b, this.up!) }
  get canEnd (): boolean { return false }
  get own (): number { return this.trie.min }
  get tag (): string { return `K${this.trie.id}` }
}

const enum A { OPEN, AFTER_VALUE }

/** Inside an array, `count` items so far (capped where the bounds no longer care). */
class ArrayFrame extends Frame {
  constructor (readonly node: ArrayNode, up: Frame, readonly phase: A, readonly count: number, readonly ws: number) { super(up) }

  private next (): ArrayFrame {
    const n = this.node
    const count = n.maxItems < UNBOUNDED ? this.count + 1 : Math.min(this.count + 1, n.minItems)
    return new ArrayFrame(n, this.up!, A.AFTER_VALUE, count, 0)
  }

  step (b: number): State | null {
    const n = this.node
    if (isWs(b)) return this.ws < WS_MAX ? new ArrayFrame(n, this.up!, this.phase, this.count, this.ws + 1) : null
    if (b === 0x5d) return this.count >= n.minItems && (this.phase === A.AFTER_VALUE || n.minItems === 0) ? this.up : null
    if (this.phase === A.OPEN) return n.maxItems > 0 ? startValue(n.items, b, this.next()) : null
    return b === 0x2c && this.count < n.maxItems ? new ValueFrame(n.items, this.next(), 0) : null
  }

  get canEnd (): boolean { return false }
  get own (): number {
    const n = this.node
    if (this.phase === A.OPEN) return n.minItems === 0 ? 1 : n.minItems * n.items.min + (n.minItems - 1) + 1
    return Math.max(0, n.minItems - this.count) * (1 + n.items.min) + 1
  }

  get tag (): string { return `A${this.node.id},${this.phase},${this.count},${this.ws}` }
}


/**
 * The byte-level matcher of a grammar: a pushdown automaton whose stack is a chain of immutable
 * frames. A frame's `up` is its parent's state once the frame is complete, so completing returns
 * `up`, and a frame that may end (a number) hands a byte it cannot take to `up`. Stepping a plain
 * character inside a string returns the same frame, so walking the token trie through string
 * content allocates nothing. `own` is the fewest bytes this frame still needs; the chain's sum is
 * the fewest bytes that finish the whole value.
 */
import {
  type ArrayNode, type GrammarNode, type LiteralTrie, type NumberNode, type ObjectNode, type StringNode,
  UNBOUNDED, firstRequired, keyTrie, node, objectAfterComma, objectRest
} from './nodes.ts'

/** Whitespace bytes allowed in a row between tokens of JSON. */
export const WS_MAX = 2

/** A matcher state: one chain, or several when alternatives (anyOf) are still open. */
export type State = Frame | Frame[]

const isWs = (b: number): boolean => b === 0x20 || b === 0x0a || b === 0x09 || b === 0x0d

export abstract class Frame {
  private chainKey: string | undefined
  private chainMin = -1
  private chainEnd: boolean | undefined

  constructor (readonly up: Frame | null) {}

  /** The state after byte `b`, or null if `b` cannot come next. */
  abstract step (b: number): State | null
  /** this frame may be complete now */
  abstract get canEnd (): boolean
  /** fewest bytes this frame itself still needs */
  abstract get own (): number
  /** identifies this frame's behaviour (not its chain) */
  abstract get tag (): string

  /** identifies the whole chain: equal keys accept the same continuations */
  get key (): string {
    return (this.chainKey ??= this.up === null ? this.tag : `${this.tag}/${this.up.key}`)
  }

  /** fewest bytes that complete the whole value */
  get remaining (): number {
    if (this.chainMin < 0) this.chainMin = Math.min(UNBOUNDED, this.own + (this.up?.remaining ?? 0))
    return this.chainMin
  }

  /** the whole value may end here */
  get accepting (): boolean {
    return (this.chainEnd ??= this.canEnd && (this.up?.accepting ?? true))
  }
}

/** Past the end of the value: nothing more. */
export class DoneFrame extends Frame {
  constructor () { super(null) }
  step (): null { return null }
  get canEnd (): boolean { return true }
  get own (): number { return 0 }
  get tag (): string { return 'D' }
}

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

function literalStep (t: LiteralTrie, b: number, up: Frame): Frame | null {
  const c = t.children.get(b)
  if (c === undefined) return null
  return c.terminal && c.children.size === 0 ? up : new LiteralFrame(c, up)
}

/** Inside a literal (enum value, true/false/null). */
class LiteralFrame extends Frame {
  constructor (readonly trie: LiteralTrie, up: Frame) { super(up) }
  step (b: number): State | null {
    const s = literalStep(this.trie, b, this.up!)
    return s ?? (this.trie.terminal ? this.up!.step(b) : null)
  }

  get canEnd (): boolean { return this.trie.terminal }
  get own (): number { return this.trie.min }
  get tag (): string { return `L${this.trie.id}` }
}

/** Inside a string: `len` characters so far (capped where the bounds no longer care). */
export class StringFrame extends Frame {
  constructor (readonly node: StringNode, up: Frame, readonly len: number) { super(up) }

  private get bounded (): boolean {
    return this.node.minLength > 0 || this.node.maxLength < UNBOUNDED
  }

  /** the same string with one more character */
  private more (): StringFrame | null {
    if (!this.bounded) return this
    if (this.len >= this.node.maxLength) return null
    const len = this.node.maxLength < UNBOUNDED ? this.len + 1 : Math.min(this.len + 1, this.node.minLength)
    return new StringFrame(this.node, this.up!, len)
  }

  step (b: number): State | null {
    if (b === 0x22) return this.len >= this.node.minLength ? this.up : null
    if (b < 0x20) return null
    if (b < 0x80) {
      if (b !== 0x5c) return this.more()
      const back = this.more()
      return back === null ? null : new EscapeFrame(back, E.ESCAPE)
    }
    // UTF-8 lead bytes, with the ranges RFC 3629 allows for the first continuation byte
    let need: number, lo = 0x80, hi = 0xbf
    if (b >= 0xc2 && b <= 0xdf) need = 1
    else if (b >= 0xe0 && b <= 0xef) { need = 2; if (b === 0xe0) lo = 0xa0; if (b === 0xed) hi = 0x9f }
    else if (b >= 0xf0 && b <= 0xf4) { need = 3; if (b === 0xf0) lo = 0x90; if (b === 0xf4) hi = 0x8f }
    else return null
    const back = this.more()
    return back === null ? null : new Utf8Frame(back, need, lo, hi)
  }

  get canEnd (): boolean { return false }
  get own (): number { return Math.max(0, this.node.minLength - this.len) + 1 }
  get tag (): string { return this.bounded ? `S${this.node.id}:${this.len}` : `S${this.node.id}` }
}

const enum E { ESCAPE, HEX4, HEX3, HEX3D, HEX2, HEX1 }
const isHex = (b: number): boolean => (b >= 0x30 && b <= 0x39) || (b >= 0x61 && b <= 0x66) || (b >= 0x41 && b <= 0x46)
const SIMPLE_ESCAPES = new Set([0x22, 0x5c, 0x2f, 0x62, 0x66, 0x6e, 0x72, 0x74]) // " \ / b f n r t

/** After a backslash in a string; `up` is the string (the character is counted already). \u escapes stay out of the surrogate range. */
class EscapeFrame extends Frame {
  constructor (up: Frame, readonly phase: E) { super(up) }
  step (b: number): State | null {
    switch (this.phase) {
      case E.ESCAPE: return SIMPLE_ESCAPES.has(b) ? this.up : b === 0x75 ? new EscapeFrame(this.up!, E.HEX4) : null
      case E.HEX4: return !isHex(b) ? null : new EscapeFrame(this.up!, b === 0x64 || b === 0x44 ? E.HEX3D : E.HEX3)
      case E.HEX3D: return b >= 0x30 && b <= 0x37 ? new EscapeFrame(this.up!, E.HEX2) : null
      case E.HEX3: return isHex(b) ? new EscapeFrame(this.up!, E.HEX2) : null
      case E.HEX2: return isHex(b) ? new EscapeFrame(this.up!, E.HEX1) : null
      case E.HEX1: return isHex(b) ? this.up : null
    }
  }

  get canEnd (): boolean { return false }
  get own (): number { return this.phase === E.ESCAPE ? 1 : this.phase === E.HEX4 ? 4 : this.phase === E.HEX2 ? 2 : this.phase === E.HEX1 ? 1 : 3 }
  get tag (): string { return `E${this.phase}` }
}

/** Continuation bytes of a UTF-8 character; `up` is the string. */
class Utf8Frame extends Frame {
  constructor (up: Frame, readonly need: number, readonly lo: number, readonly hi: number) { super(up) }
  step (b: number): State | null {
    if (b < this.lo || b > this.hi) return null
    return this.need === 1 ? this.up : new Utf8Frame(this.up!, this.need - 1, 0x80, 0xbf)
  }

  get canEnd (): boolean { return false }
  get own (): number { return this.need }
  get tag (): string { return `U${this.need},${this.lo},${this.hi}` }
}

/** Digits per part of a number: enough for any double, few enough to always end. */
const MAX_INT_DIGITS = 15
const MAX_FRAC_DIGITS = 15
const MAX_EXP_DIGITS = 2
const enum N { MINUS, ZERO, INT, DOT, FRAC, E, ESIGN, EXP }
const isDigit = (b: number): boolean => b >= 0x30 && b <= 0x39

/** Inside a number: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?, integers without the fraction and exponent. */
class NumberFrame extends Frame {
  constructor (readonly node: NumberNode, up: Frame, readonly phase: N, readonly digits: number) { super(up) }

  private to (phase: N, digits: number): NumberFrame {
    return new NumberFrame(this.node, this.up!, phase, digits)
  }

  step (b: number): State | null {
    const real = !this.node.integer
    const p = this.phase
    if (p === N.MINUS) return b === 0x30 ? this.to(N.ZERO, 1) : b > 0x30 && b <= 0x39 ? this.to(N.INT, 1) : null
    if (p === N.DOT) return isDigit(b) ? this.to(N.FRAC, 1) : null
    if (p === N.E) return b === 0x2b || b === 0x2d ? this.to(N.ESIGN, 0) : isDigit(b) ? this.to(N.EXP, 1) : null
    if (p === N.ESIGN) return isDigit(b) ? this.to(N.EXP, 1) : null
    // ZERO, INT, FRAC, EXP may end: what they cannot take goes to the parent
    if (isDigit(b)) {
      if (p === N.INT && this.digits < MAX_INT_DIGITS) return this.to(N.INT, this.digits + 1)
      if (p === N.FRAC && this.digits < MAX_FRAC_DIGITS) return this.to(N.FRAC, this.digits + 1)
      if (p === N.EXP && this.digits < MAX_EXP_DIGITS) return this.to(N.EXP, this.digits + 1)
      return null
    }
    if (real && b === 0x2e && (p === N.ZERO || p === N.INT)) return this.to(N.DOT, 0)
    if (real && (b === 0x65 || b === 0x45) && p !== N.EXP) return this.to(N.E, 0)
    return this.up!.step(b)
  }

  get canEnd (): boolean {
    return this.phase === N.ZERO || this.phase === N.INT || this.phase === N.FRAC || this.phase === N.EXP
  }

  get own (): number { return this.canEnd ? 0 : 1 }
  get tag (): string { return `N${this.node.id},${this.phase},${this.digits}` }
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

/** Alternatives followed at once at most (anyOf of look-alike branches); beyond, the latest are dropped. */
const MAX_CHAINS = 64

/** Steps a state (one chain or several) by one byte. */
export function stepState (s: State, b: number): State | null {
  if (!Array.isArray(s)) return s.step(b)
  const out: Frame[] = []
  for (const f of s) {
    const n = f.step(b)
    if (n === null) continue
    if (Array.isArray(n)) out.push(...n)
    else out.push(n)
  }
  if (out.length > MAX_CHAINS) out.length = MAX_CHAINS
  return out.length === 0 ? null : out.length === 1 ? out[0]! : out
}

export const stateKey = (s: State): string => Array.isArray(s) ? s.map(f => f.key).join('|') : s.key
export const stateRemaining = (s: State): number => Array.isArray(s) ? Math.min(...s.map(f => f.remaining)) : s.remaining
export const stateAccepting = (s: State): boolean => Array.isArray(s) ? s.some(f => f.accepting) : s.accepting
/** Nothing but the end can follow. */
export const stateDone = (s: State): boolean => (Array.isArray(s) ? s : [s]).every(f => f instanceof DoneFrame)

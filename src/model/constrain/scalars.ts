/**
 * Frames of scalar values: literals (enum values, true/false/null), strings (UTF-8 checked,
 * escapes, length bounds) and numbers (JSON's syntax, digits bounded so every number ends).
 * Stepping a plain character inside an unbounded string returns the same frame: walking the token
 * trie through string content allocates nothing.
 */
import { Frame, type State } from './frame.ts'
import { type LiteralTrie, type NumberNode, type StringNode, UNBOUNDED } from './nodes.ts'

export function literalStep (t: LiteralTrie, b: number, up: Frame): Frame | null {
  const c = t.children.get(b)
  if (c === undefined) return null
  return c.terminal && c.children.size === 0 ? up : new LiteralFrame(c, up)
}

/** Inside a literal (enum value, true/false/null). */
export class LiteralFrame extends Frame {
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
export const enum N { MINUS, ZERO, INT, DOT, FRAC, E, ESIGN, EXP }
const isDigit = (b: number): boolean => b >= 0x30 && b <= 0x39

/** Inside a number: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?, integers without the fraction and exponent. */
export class NumberFrame extends Frame {
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


/**
 * The byte-level matcher of a grammar is a pushdown automaton whose stack is a chain of immutable
 * frames. A frame's `up` is its parent's state once the frame is complete, so completing returns
 * `up`, and a frame that may end (a number) hands a byte it cannot take to `up`. `own` is the
 * fewest bytes a frame still needs; the chain's sum is the fewest bytes that finish the value.
 * This file: the base, the end, and states (one chain, or several while anyOf branches are open).
 */
import { UNBOUNDED } from './nodes.ts'

/** Whitespace bytes allowed in a row between tokens of JSON. */
export const WS_MAX = 2

/** A matcher state: one chain, or several when alternatives (anyOf) are still open. */
export type State = Frame | Frame[]

export const isWs = (b: number): boolean => b === 0x20 || b === 0x0a || b === 0x09 || b === 0x0d

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

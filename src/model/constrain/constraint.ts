/**
 * The one interface the generation loop sees: a Constraint picks each token among those that keep
 * the output a valid prefix of its grammar, then follows the token taken. A Grammar is compiled
 * once (from a JSON schema, say) and makes a Constraint per generation.
 */
import { GridError } from '../../util/errors.ts'
import { logger } from '../../util/log.ts'
import { type TokenTable, tokenTable } from '../tokenizer/table.ts'
import type { Tokenizer } from '../tokenizer/types.ts'
import { DoneFrame, type State, ValueFrame, stateAccepting, stateDone, stateKey, stateRemaining, stepState } from './frames.ts'
import { applyMask, maskCache, toMask, walkMask } from './mask.ts'
import type { GrammarNode } from './nodes.ts'

export interface Constraint {
  /**
   * The next token: `pick` (the sampler) chooses from `logits` once every token that cannot come
   * next is set to -Infinity, in place. `budget`: tokens left, this one included; a token after
   * which the value could not be finished in time is refused too.
   */
  select (logits: Float32Array, budget: number, pick: (logits: Float32Array) => number): number
  /** Follows the token taken. */
  accept (id: number): void
  /** nothing but the end can follow */
  readonly done: boolean
}

const log = logger('model:constrain')

/** Refused tokens before select() stops sampling and rejecting and walks the trie with the budget. */
const MAX_REJECTIONS = 8

let grammars = 0

export class Grammar {
  readonly id = grammars++

  constructor (readonly root: GrammarNode) {}

  /** Bytes of the shortest value the grammar accepts. */
  get minBytes (): number {
    return this.root.min
  }

  /** Whether `text` is a whole value of the grammar (what a finished constrained output is). */
  accepts (text: string): boolean {
    let s: State | null = new ValueFrame(this.root, new DoneFrame())
    for (const b of new TextEncoder().encode(text)) {
      s = stepState(s, b)
      if (s === null) return false
    }
    return stateAccepting(s)
  }

  /** A constraint for one generation; `endTokens` are allowed once the value is complete. */
  constraint (tokenizer: Tokenizer, endTokens: Iterable<number>): Constraint {
    return new JsonConstraint(this, tokenTable(tokenizer), [...endTokens])
  }
}

/** The model's vocabulary cannot continue the output within the grammar. */
export class ConstraintError extends GridError {
  constructor (message: string) {
    super('CONSTRAINT_FAILED', message)
    this.name = 'ConstraintError'
  }
}

class JsonConstraint implements Constraint {
  private state: State

  constructor (private readonly grammar: Grammar, private readonly table: TokenTable, private readonly ends: readonly number[]) {
    this.state = new ValueFrame(grammar.root, new DoneFrame())
  }

  get done (): boolean {
    return stateDone(this.state)
  }

  select (logits: Float32Array, budget: number, pick: (logits: Float32Array) => number): number {
    const accepting = stateAccepting(this.state)
    const endLogits = this.ends.map(id => logits[id]!)
    const mask = maskCache(this.table).get(`${this.grammar.id}|${stateKey(this.state)}`, () => toMask(walkMask(this.table, this.state), this.table.vocabSize))
    applyMask(logits, mask)
    this.ends.forEach((id, k) => { logits[id] = accepting ? endLogits[k]! : -Infinity })
    this.ensureAny(logits)
    if (stateRemaining(this.state) > budget) return pick(logits) // cannot finish in time whatever comes
    const masked = logits.slice()
    for (let tries = 0; ; tries++) {
      const id = pick(logits)
      if (this.fits(id, budget)) return id
      logits[id] = -Infinity
      if (tries + 1 < MAX_REJECTIONS) continue
      // many tokens would overrun the budget: keep only those that do not
      const strict = [...walkMask(this.table, this.state, budget), ...(accepting ? this.ends : [])]
      logits.set(masked)
      if (strict.length === 0) {
        log('no token finishes within %d tokens from %s', budget, this.describe())
        return pick(logits)
      }
      applyMask(logits, { ids: Int32Array.from(strict), allowed: true })
      return pick(logits)
    }
  }

  private fits (id: number, budget: number): boolean {
    if (this.ends.includes(id)) return true
    const next = this.after(id)
    return next !== null && stateRemaining(next) <= budget - 1
  }

  private ensureAny (logits: Float32Array): void {
    for (let i = 0; i < logits.length; i++) if (logits[i]! > -Infinity) return
    throw new ConstraintError(`no token of the model's vocabulary can continue the output "${this.describe()}"`)
  }

  private describe (): string {
    return stateKey(this.state).slice(0, 80)
  }

  private after (id: number): State | null {
    let s: State | null = this.state
    for (const b of this.table.tokenBytes(id)) {
      s = stepState(s, b)
      if (s === null) return null
    }
    return s
  }

  accept (id: number): void {
    if (this.ends.includes(id)) return
    const next = this.after(id)
    if (next === null) throw new ConstraintError(`token ${id} does not continue the output`)
    this.state = next
  }
}

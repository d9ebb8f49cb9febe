/**
 * One hop of a chain session: a session at one server over blocks [start, end), with everything the
 * client keeps of it. Its inputs per step are its history (failover replays them); its outputs and
 * receipts (the server's signed commitments) are what audits check and fraud proofs are made of.
 */
import { randomId } from '../util/bytes.ts'
import type { PeerAddress, Receipt, RemoteSpanSession } from '../net/index.ts'
import type { GridError } from '../util/errors.ts'

/**
 * One step of a hop as the client saw it and the server signed it: every row it computed, also
 * those a later rollback dropped from the cache (speculative decoding's rejected drafts). The next
 * step's `from` then lies before this one's end: a replay rolls back to it.
 */
export interface StepRecord {
  readonly step: number
  /** first position of its rows */
  readonly from: number
  /** (rows, dim) */
  readonly input: Float32Array
  /** (rows, dim) */
  readonly output: Float32Array
  readonly receipt: Receipt
}

export class Hop {
  /** this hop's input per step id, every row sent (its history) */
  inputs = new Map<number, Float32Array>()
  /** rows of a step the cache still holds after rollbacks cut into it (absent: all) */
  readonly kept = new Map<number, number>()
  /** its output and receipt per step id */
  readonly outputs = new Map<number, Float32Array>()
  readonly receipts = new Map<number, Receipt>()
  /** steps whose output this hop delivered */
  readonly done = new Set<number>()
  failure: GridError | undefined
  remote: RemoteSpanSession | undefined
  /** during a replay, where outputs go (the hop is not yet in the chain) */
  replayNext: Hop | undefined
  /** stops the client counting this hop's session on its server (routes spread over replicas by that count) */
  held: (() => void) | undefined
  readonly id = randomId()

  constructor (readonly peer: PeerAddress, readonly start: number, readonly end: number) {}

  /** Ends the hop: closes its session at the server and stops counting it there. */
  async finish (): Promise<void> {
    this.held?.()
    this.held = undefined
    await this.remote?.close()
  }

  get healthy (): boolean {
    return this.failure === undefined && this.remote?.isOpen === true
  }

  /** Keeps what the server returned for a step (the first copy; a resend is the same). */
  record (step: number, output: Float32Array, receipt: Receipt): void {
    if (this.outputs.has(step)) return
    this.outputs.set(step, output)
    this.receipts.set(step, receipt)
  }

  /**
   * Cuts the history at a rollback: step `step` keeps its first `rows` rows in the cache (none: the
   * step is forgotten). What was sent, returned and signed stays whole for audits (a result that
   * comes in after the rollback too); replays send only the rows kept.
   */
  trim (step: number, rows: number): void {
    if (rows <= 0) {
      this.inputs.delete(step)
      this.outputs.delete(step)
      this.receipts.delete(step)
      this.kept.delete(step)
    } else {
      this.kept.set(step, Math.min(rows, this.kept.get(step) ?? Infinity))
    }
  }

  /** Step `step`'s input as the cache holds it now: its rows kept by rollbacks (what a replay sends). */
  liveInput (step: number, dim: number): Float32Array | undefined {
    const input = this.inputs.get(step)
    const rows = this.kept.get(step)
    return input === undefined || rows === undefined || rows * dim >= input.length ? input : input.slice(0, rows * dim)
  }

  /** The live inputs of every step: a new hop's history when it replaces this one. */
  liveInputs (dim: number): Map<number, Float32Array> {
    return new Map([...this.inputs.keys()].map(step => [step, this.liveInput(step, dim)!]))
  }

  /** The steps with input, output and receipt, in order, with their first positions. */
  records (stepFrom: ReadonlyMap<number, number>): StepRecord[] {
    const out: StepRecord[] = []
    for (const step of [...this.receipts.keys()].sort((a, b) => a - b)) {
      const input = this.inputs.get(step)
      const output = this.outputs.get(step)
      const from = stepFrom.get(step)
      if (input !== undefined && output !== undefined && from !== undefined) out.push({ step, from, input, output, receipt: this.receipts.get(step)! })
    }
    return out
  }
}

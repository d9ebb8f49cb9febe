/**
 * One hop of a chain session: a session at one server over blocks [start, end), with everything the
 * client keeps of it. Its inputs per step are its history (failover replays them); its outputs and
 * receipts (the server's signed commitments) are what audits check and fraud proofs are made of.
 */
import { randomId } from '../util/bytes.ts'
import type { PeerAddress, Receipt, RemoteSpanSession } from '../net/index.ts'
import type { GridError } from '../util/errors.ts'

/** One step of a hop as the client saw it. */
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
  /** this hop's input per step id (its history) */
  inputs = new Map<number, Float32Array>()
  /** its output and receipt per step id */
  readonly outputs = new Map<number, Float32Array>()
  readonly receipts = new Map<number, Receipt>()
  /** steps whose output this hop delivered */
  readonly done = new Set<number>()
  failure: GridError | undefined
  remote: RemoteSpanSession | undefined
  /** during a replay, where outputs go (the hop is not yet in the chain) */
  replayNext: Hop | undefined
  readonly id = randomId()

  constructor (readonly peer: PeerAddress, readonly start: number, readonly end: number) {}

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
   * Cuts the history at a rollback to `position`: steps from there on are forgotten, a step cut in
   * two keeps its first rows (and loses its receipt, which no longer matches).
   */
  trim (step: number, rows: number, dim: number): void {
    const input = this.inputs.get(step)
    if (input === undefined) return
    if (rows <= 0) {
      this.inputs.delete(step)
      this.outputs.delete(step)
      this.receipts.delete(step)
    } else if (rows * dim < input.length) {
      this.inputs.set(step, input.slice(0, rows * dim))
      const output = this.outputs.get(step)
      if (output !== undefined) this.outputs.set(step, output.slice(0, rows * dim))
      this.receipts.delete(step)
    }
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

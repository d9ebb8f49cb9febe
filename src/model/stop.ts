/**
 * Holds back streamed text that might be the start of a stop string, so a stop string is never
 * printed, even when it arrives split across tokens.
 */
export class StopMatcher {
  private pending = ''
  stopped = false

  constructor (private readonly stops: readonly string[]) {}

  /** Text safe to emit after adding `text`; sets `stopped` when a stop string completed. */
  push (text: string): string {
    if (this.stopped) return ''
    this.pending += text
    let cut = -1
    for (const s of this.stops) {
      const at = s.length > 0 ? this.pending.indexOf(s) : -1
      if (at >= 0 && (cut < 0 || at < cut)) cut = at
    }
    if (cut >= 0) {
      this.stopped = true
      const out = this.pending.slice(0, cut)
      this.pending = ''
      return out
    }
    const keep = this.heldBack()
    const out = this.pending.slice(0, this.pending.length - keep)
    this.pending = this.pending.slice(this.pending.length - keep)
    return out
  }

  /** Whatever was held back, once no more text will come. */
  flush (): string {
    const out = this.stopped ? '' : this.pending
    this.pending = ''
    return out
  }

  /** Length of the longest suffix of `pending` that is a proper prefix of some stop string. */
  private heldBack (): number {
    let best = 0
    for (const s of this.stops) {
      for (let k = Math.min(s.length - 1, this.pending.length); k > best; k--) {
        if (this.pending.endsWith(s.slice(0, k))) { best = k; break }
      }
    }
    return best
  }
}

/** Splits text around special-token strings (longest match first), e.g. "<|im_start|>user". */
export class SpecialSplitter {
  private readonly pattern: RegExp | undefined
  private readonly ids: Map<string, number>

  constructor (specials: ReadonlyArray<{ text: string, id: number }>) {
    this.ids = new Map(specials.map(s => [s.text, s.id]))
    const texts = [...this.ids.keys()].sort((a, b) => b.length - a.length)
    this.pattern = texts.length > 0 ? new RegExp(texts.map(escape).join('|'), 'g') : undefined
  }

  /** Text fragments and special-token ids, in order. */
  split (text: string): Array<string | number> {
    if (this.pattern === undefined) return [text]
    const out: Array<string | number> = []
    let last = 0
    for (const m of text.matchAll(this.pattern)) {
      if (m.index > last) out.push(text.slice(last, m.index))
      out.push(this.ids.get(m[0])!)
      last = m.index + m[0].length
    }
    if (last < text.length) out.push(text.slice(last))
    return out
  }
}

function escape (s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')
}

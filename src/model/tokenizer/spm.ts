/**
 * SentencePiece-style BPE over a scored vocabulary (GGUF `llama` tokenizers, llama2.c's
 * tokenizer.bin): start from UTF-8 characters, repeatedly merge the adjacent pair whose merged
 * piece has the best score (leftmost on ties), fall back to byte tokens for unknown characters.
 */
import type { SpmTokenizerData } from '../source.ts'
import type { EncodeOptions, Tokenizer } from './types.ts'
import { SpecialSplitter } from './special.ts'
import { MinHeap } from './heap.ts'
import { utf8Length } from '../../util/bytes.ts'

const SPACE = '\u2581' // ▁, SentencePiece's visible space
const TYPE_NORMAL = 1
const TYPE_CONTROL = 3
const TYPE_USER = 4
const TYPE_BYTE = 6
const BYTE_PIECE = /^<0x([0-9A-Fa-f]{2})>$/
const utf8 = new TextEncoder()

interface Symbol { text: string, prev: number, next: number }
interface Bigram { left: number, right: number, score: number, text: string }

export class SpmTokenizer implements Tokenizer {
  readonly vocabSize: number
  readonly bos: number
  readonly eos: ReadonlySet<number>
  readonly addBos: boolean
  readonly stripLeadingSpace: boolean
  private readonly ids = new Map<string, number>()
  private readonly byteIds = new Int32Array(256).fill(-1)
  /** every token's bytes back to back, token i at [offsets[i], offsets[i + 1]): one buffer, not one per token */
  private readonly bytes: Uint8Array
  private readonly offsets: Int32Array
  private readonly special: SpecialSplitter

  constructor (private readonly data: SpmTokenizerData) {
    const { tokens, types } = data
    this.vocabSize = tokens.length
    this.bos = data.bos
    this.eos = new Set([data.eos, ...(data.extraEos ?? [])])
    this.addBos = data.addBos
    this.stripLeadingSpace = data.addSpacePrefix
    for (let id = 0; id < tokens.length; id++) {
      if (!this.ids.has(tokens[id]!)) this.ids.set(tokens[id]!, id)
      const m = types[id] === TYPE_BYTE ? BYTE_PIECE.exec(tokens[id]!) : null
      if (m !== null) this.byteIds[parseInt(m[1]!, 16)] = id
    }
    // two passes, sizes then bytes, so no per-token buffer is ever allocated
    const texts = tokens.map((piece, id) => this.pieceText(piece, types[id] ?? TYPE_NORMAL))
    this.offsets = new Int32Array(tokens.length + 1)
    texts.forEach((t, id) => { this.offsets[id + 1] = this.offsets[id]! + (typeof t === 'number' ? 1 : utf8Length(t)) })
    this.bytes = new Uint8Array(this.offsets[tokens.length]!)
    texts.forEach((t, id) => {
      if (typeof t === 'number') this.bytes[this.offsets[id]!] = t
      else utf8.encodeInto(t, this.bytes.subarray(this.offsets[id]!, this.offsets[id + 1]!))
    })
    this.special = new SpecialSplitter(tokens.flatMap((t, id) =>
      (types[id] === TYPE_CONTROL || types[id] === TYPE_USER) && t.length > 1 ? [{ text: t, id }] : []))
  }

  /** What a token prints: its text, a single raw byte (byte tokens), or nothing (control tokens). */
  private pieceText (piece: string, type: number): string | number {
    if (type === TYPE_CONTROL) return ''
    const m = type === TYPE_BYTE ? BYTE_PIECE.exec(piece) : null
    if (m !== null) return parseInt(m[1]!, 16)
    return piece.replaceAll(SPACE, ' ')
  }

  piece (id: number): string {
    return this.data.tokens[id] ?? `<invalid ${id}>`
  }

  tokenBytes (id: number): Uint8Array {
    if (!(id >= 0 && id < this.vocabSize)) return new Uint8Array(0)
    return this.bytes.subarray(this.offsets[id]!, this.offsets[id + 1]!)
  }

  encode (text: string, options: EncodeOptions = {}): number[] {
    const out: number[] = []
    if (options.addBos ?? this.addBos) out.push(this.bos)
    // like llama.cpp: a text fragment at the start or right after a special token gets the space prefix
    let prevSpecial = true
    for (const frag of this.special.split(text)) {
      if (typeof frag === 'number') { out.push(frag); prevSpecial = true; continue }
      if (frag.length === 0) continue
      const prefixed = this.data.addSpacePrefix && prevSpecial ? ' ' + frag : frag
      this.encodeText(prefixed.replaceAll(' ', SPACE), out)
      prevSpecial = false
    }
    return out
  }

  private encodeText (text: string, out: number[]): void {
    const symbols: Symbol[] = []
    for (const ch of text) symbols.push({ text: ch, prev: symbols.length - 1, next: symbols.length + 1 })
    if (symbols.length === 0) return
    symbols[symbols.length - 1]!.next = -1

    const heap = new MinHeap<Bigram>((a, b) => a.score !== b.score ? b.score - a.score : a.left - b.left)
    const tryPair = (left: number, right: number): void => {
      if (left < 0 || right < 0) return
      const merged = symbols[left]!.text + symbols[right]!.text
      const id = this.ids.get(merged)
      if (id !== undefined) heap.push({ left, right, score: this.data.scores[id] ?? 0, text: merged })
    }
    for (let i = 1; i < symbols.length; i++) tryPair(i - 1, i)

    while (heap.size > 0) {
      const b = heap.pop()!
      const left = symbols[b.left]!
      const right = symbols[b.right]!
      // stale entry: one side already merged into something else
      if (left.text.length === 0 || right.text.length === 0 || left.text + right.text !== b.text) continue
      left.text = b.text
      right.text = ''
      left.next = right.next
      if (right.next >= 0) symbols[right.next]!.prev = b.left
      tryPair(left.prev, b.left)
      tryPair(b.left, left.next)
    }

    for (let i = 0; i >= 0; i = symbols[i]!.next) {
      const s = symbols[i]!.text
      const id = this.ids.get(s)
      if (id !== undefined) { out.push(id); continue }
      for (const byte of utf8.encode(s)) out.push(this.byteIds[byte]! >= 0 ? this.byteIds[byte]! : this.data.unk)
    }
  }
}

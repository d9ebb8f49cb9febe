/**
 * Hugging Face `tokenizer.json` tokenizers (byte-level BPE for Llama 3 / Qwen / SmolLM, and
 * metaspace BPE for Llama 2 / Mistral exports), encoding through @lenml/tokenizers.
 */
import { TokenizerLoader } from '@lenml/tokenizers'
import { UnsupportedTokenizerError } from '../../util/errors.ts'
import type { HfTokenizerData } from '../source.ts'
import type { EncodeOptions, Tokenizer } from './types.ts'

const utf8 = new TextEncoder()
const BYTE_PIECE = /^<0x([0-9A-Fa-f]{2})>$/

/** GPT-2's map from byte-level token characters back to bytes. */
const BYTE_OF_CHAR: ReadonlyMap<string, number> = (() => {
  const map = new Map<string, number>()
  let extra = 0
  for (let b = 0; b < 256; b++) {
    const printable = (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255)
    map.set(String.fromCodePoint(printable ? b : 256 + extra++), b)
  }
  return map
})()

type Json = Record<string, unknown>

function hasDecoder (decoder: unknown, type: string): boolean {
  if (decoder === null || typeof decoder !== 'object') return false
  const d = decoder as Json
  if (d.type === type) return true
  return Array.isArray(d.decoders) && d.decoders.some(x => hasDecoder(x, type))
}

export class HfTokenizer implements Tokenizer {
  readonly vocabSize: number
  readonly bos: number | undefined
  readonly eos: ReadonlySet<number>
  readonly addBos: boolean
  readonly stripLeadingSpace: boolean
  private readonly inner: ReturnType<typeof TokenizerLoader.fromPreTrained>
  private readonly vocab: readonly string[]
  private readonly byteLevel: boolean
  private readonly special = new Set<number>()
  private readonly added = new Map<number, string>()
  private readonly cache = new Map<number, Uint8Array>()

  constructor (data: HfTokenizerData) {
    const model = data.tokenizerJson.model as Json | undefined
    if (model === undefined || (model.type !== undefined && model.type !== 'BPE')) {
      throw new UnsupportedTokenizerError(`tokenizer.json model type "${String(model?.type)}" is not supported (BPE is)`)
    }
    this.inner = TokenizerLoader.fromPreTrained({ tokenizerJSON: data.tokenizerJson as never, tokenizerConfig: data.tokenizerConfig as never })
    this.vocab = (this.inner as unknown as { model: { vocab: string[] } }).model.vocab
    this.vocabSize = this.vocab.length
    for (const t of (data.tokenizerJson.added_tokens ?? []) as Array<{ id: number, content: string, special?: boolean }>) {
      this.added.set(t.id, t.content)
      if (t.special === true) this.special.add(t.id)
    }
    this.byteLevel = hasDecoder(data.tokenizerJson.decoder, 'ByteLevel')
    this.stripLeadingSpace = !this.byteLevel && (hasDecoder(data.tokenizerJson.decoder, 'Strip') || hasDecoder(data.tokenizerJson.decoder, 'Metaspace'))
    this.bos = data.bos
    this.eos = new Set(data.eos)
    this.addBos = data.addBos
  }

  piece (id: number): string {
    return this.vocab[id] ?? `<invalid ${id}>`
  }

  encode (text: string, options: EncodeOptions = {}): number[] {
    // the library would add BOS through its post-processor; we add it ourselves, as for every tokenizer
    const ids = this.inner.encode(text, { add_special_tokens: false })
    return (options.addBos ?? this.addBos) && this.bos !== undefined ? [this.bos, ...ids] : ids
  }

  tokenBytes (id: number): Uint8Array {
    let bytes = this.cache.get(id)
    if (bytes === undefined) {
      bytes = this.computeBytes(id)
      this.cache.set(id, bytes)
    }
    return bytes
  }

  private computeBytes (id: number): Uint8Array {
    if (this.special.has(id)) return new Uint8Array(0)
    const added = this.added.get(id)
    if (added !== undefined) return utf8.encode(added)
    const piece = this.vocab[id]
    if (piece === undefined) return new Uint8Array(0)
    if (this.byteLevel) return Uint8Array.from([...piece], ch => BYTE_OF_CHAR.get(ch) ?? 0x3f)
    const m = BYTE_PIECE.exec(piece)
    if (m !== null) return Uint8Array.of(parseInt(m[1]!, 16))
    return utf8.encode(piece.replaceAll('\u2581', ' '))
  }
}

export interface EncodeOptions {
  /** prepend BOS (default: what the model's tokenizer config says) */
  addBos?: boolean
}

/** Special-token text in the input (`<|im_start|>`, `</s>`) always encodes as the special token. */
export interface Tokenizer {
  readonly vocabSize: number
  readonly bos: number | undefined
  /** tokens that end a generation */
  readonly eos: ReadonlySet<number>
  readonly addBos: boolean
  /** SentencePiece convention: the first piece after BOS loses its leading space when decoded */
  readonly stripLeadingSpace: boolean
  encode (text: string, options?: EncodeOptions): number[]
  /** The raw bytes a token stands for; empty for control tokens (BOS, EOS, chat markers). */
  tokenBytes (id: number): Uint8Array
  /** The token's text as stored in the vocabulary (for diagnostics). */
  piece (id: number): string
}

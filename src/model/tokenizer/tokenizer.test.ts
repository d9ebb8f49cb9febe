import { test } from 'node:test'
import assert from 'node:assert/strict'
import { openModel } from '../open.ts'
import { createTokenizer, decode, StreamDecoder, type Tokenizer } from './index.ts'
import { bpeTokenizerJson } from './gguf-bpe.ts'
import { STORIES_BIN, STORIES_GGUF, expectedIds, expectedText } from '../../../test/fixtures/stories.ts'
import { MERGES, SPECIALS, bpeTokens, tokenizerJson } from '../../../test/fixtures/bpe.ts'

const UNICODE = [
  'Once upon a time',
  'Lily said, "Hi!"\nThen she ran.',
  '  two leading spaces and trailing  ',
  'naïve café – déjà vu',
  '世界 and 🎉 emoji 👩‍👩‍👧',
  'tabs\tand\r\nwindows newlines',
  'ends with a space '
]

async function stories (path: string): Promise<Tokenizer> {
  return createTokenizer((await openModel(path)).tokenizer!)
}

test('SentencePiece: encoding llama2.c\'s reference text gives its reference ids (GGUF and tok512.bin)', async () => {
  for (const path of [STORIES_GGUF, STORIES_BIN]) {
    const tok = await stories(path)
    assert.deepEqual(tok.encode(expectedText(), { addBos: false }), expectedIds())
    assert.equal(decode(tok, [1, ...expectedIds()]), expectedText())
  }
})

test('SentencePiece: the GGUF vocabulary and tok512.bin agree on stories260K', async () => {
  const gguf = await stories(STORIES_GGUF)
  const bin = await stories(STORIES_BIN)
  for (const s of UNICODE) assert.deepEqual(gguf.encode(s), bin.encode(s), s)
  assert.equal(gguf.bos, 1)
  assert.deepEqual(gguf.encode(''), [1])
})

test('SentencePiece: unicode round trips through byte fallback', async () => {
  const tok = await stories(STORIES_GGUF)
  for (const s of UNICODE) {
    const ids = tok.encode(s)
    assert.equal(ids[0], 1)
    assert.equal(decode(tok, ids), s)
  }
  // 世 is not in the 512-token vocabulary: three byte tokens
  const ids = tok.encode('世', { addBos: false })
  assert.deepEqual(ids.slice(-3).map(id => tok.piece(id)), ['<0xE4>', '<0xB8>', '<0x96>'])
})

test('SentencePiece: special-token text encodes as the special token', async () => {
  const tok = await stories(STORIES_GGUF)
  assert.deepEqual(tok.encode('a</s>b', { addBos: false }).filter(id => id === 2), [2])
})

test('streaming decode never emits a broken character', async () => {
  const tok = await stories(STORIES_GGUF)
  const ids = tok.encode('a世🎉b', { addBos: true })
  const d = new StreamDecoder(tok)
  const pieces = ids.map(id => d.push(id))
  for (const p of pieces) assert.ok(!p.includes('\uFFFD'), JSON.stringify(pieces))
  assert.equal(pieces.join('') + d.flush(), 'a世🎉b')
  assert.ok(pieces.filter(p => p === '').length >= 5) // bytes held until their character completes
})

test('byte-level BPE from tokenizer.json: merges, specials and round trips', () => {
  const tok = createTokenizer({ kind: 'hf', tokenizerJson: tokenizerJson(), tokenizerConfig: {}, eos: [256 + MERGES.length], addBos: false })
  const pieces = (s: string): string[] => tok.encode(s).map(id => tok.piece(id))
  assert.deepEqual(pieces('hello world'), ['hello', 'Ġworld'])
  assert.deepEqual(pieces('the'), ['t', 'he'])
  assert.deepEqual(pieces(' the'), ['Ġthe'])
  const chat = tok.encode('<|im_start|>user\nhello<|im_end|>')
  assert.equal(chat[0], bpeTokens().indexOf('<|im_start|>'))
  assert.equal(chat[chat.length - 1], bpeTokens().indexOf('<|im_end|>'))
  assert.equal(decode(tok, chat), 'user\nhello') // control tokens print nothing
  for (const s of UNICODE) assert.equal(decode(tok, tok.encode(s)), s)
  assert.ok(tok.eos.has(256 + MERGES.length))
})

test('GGUF byte-level BPE (tokenizer.ggml.model = gpt2) encodes like the tokenizer.json it came from', () => {
  const tokens = bpeTokens()
  const types = Int32Array.from(tokens, t => SPECIALS.includes(t) ? 3 : 1)
  for (const pre of ['default', 'qwen2', 'llama-bpe', 'smollm']) {
    const json = bpeTokenizerJson({ tokens, types, merges: MERGES, pre, where: 'test.gguf' })
    const tok = createTokenizer({ kind: 'hf', tokenizerJson: json, tokenizerConfig: {}, eos: [], addBos: false })
    assert.deepEqual(tok.encode('hello world').map(id => tok.piece(id)), ['hello', 'Ġworld'], pre)
    for (const s of UNICODE) assert.equal(decode(tok, tok.encode(s)), s)
  }
  // digits: llama3 groups up to three, qwen2 and smollm split them one by one
  const digits = (pre: string): number => {
    const tok = createTokenizer({ kind: 'hf', tokenizerJson: bpeTokenizerJson({ tokens, types, merges: [...MERGES, '1 2', '12 3'], pre, where: 't' }), tokenizerConfig: {}, eos: [], addBos: false })
    return tok.encode('123').length
  }
  assert.equal(digits('llama-bpe'), 1)
  assert.equal(digits('qwen2'), 3)
  assert.equal(digits('smollm'), 3)
  assert.throws(() => bpeTokenizerJson({ tokens, types, merges: MERGES, pre: 'mystery', where: 'x.gguf' }), { code: 'UNSUPPORTED_TOKENIZER', message: /mystery/ })
})

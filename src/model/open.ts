/** Opens a model file or folder, whatever its format. */
import { openSync, readSync, closeSync, statSync, readdirSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { BadModelFileError } from '../util/errors.ts'
import { fileError } from './files.ts'
import { openGguf } from './gguf/source.ts'
import { openLlama2c } from './llama2c.ts'
import { openSafetensorsDir } from './safetensors.ts'
import type { ModelSource, TokenizerData } from './source.ts'
import { readLlama2cTokenizer } from './tokenizer/llama2c.ts'
import { hfTokenizerFile } from './tokenizer/hf-files.ts'

export interface OpenModelOptions {
  /** a tokenizer file: llama2.c's tokenizer.bin, or a tokenizer.json */
  tokenizer?: string
  signal?: AbortSignal
}

function isGguf (path: string): boolean {
  if (path.endsWith('.gguf')) return true
  const fd = openSync(path, 'r')
  try {
    const magic = Buffer.alloc(4)
    return readSync(fd, magic, 0, 4, 0) === 4 && magic.toString('latin1') === 'GGUF'
  } finally {
    closeSync(fd)
  }
}

/** llama2.c checkpoints keep their tokenizer beside them: tokenizer.bin or tok<N>.bin. */
function findLlama2cTokenizer (checkpoint: string): string | undefined {
  const dir = dirname(checkpoint)
  const candidates = readdirSync(dir).filter(f => f === 'tokenizer.bin' || /^tok\d+\.bin$/.test(f))
  return candidates.length === 1 ? join(dir, candidates[0]!) : undefined
}

export async function openModel (path: string, options: OpenModelOptions = {}): Promise<ModelSource> {
  let isDir: boolean
  try {
    isDir = statSync(path).isDirectory()
  } catch (err) {
    throw fileError(path, err)
  }
  let source: ModelSource
  if (isDir) source = openSafetensorsDir(path)
  else if (isGguf(path)) source = openGguf(path)
  else if (path.endsWith('.bin')) {
    const header = openLlama2c(path, undefined) // validates before the tokenizer is read
    const tokPath = options.tokenizer ?? findLlama2cTokenizer(path)
    const tokenizer = tokPath === undefined ? undefined : await readLlama2cTokenizer(tokPath, header.config.vocabSize, options)
    return { ...header, tokenizer }
  } else {
    throw new BadModelFileError(`${path}: not a model this runtime reads (a .gguf file, a llama2.c .bin, or a Hugging Face folder)`)
  }
  if (options.tokenizer !== undefined) {
    const tokenizer: TokenizerData = options.tokenizer.endsWith('.json')
      ? hfTokenizerFile(options.tokenizer)
      : await readLlama2cTokenizer(options.tokenizer, source.config.vocabSize, options)
    source = { ...source, tokenizer }
  }
  return source
}

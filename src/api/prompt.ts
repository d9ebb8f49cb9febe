/**
 * Prompt text to token ids without letting one request hurt the server: a text that cannot fit
 * the context, whatever its tokens (more bytes than the context times the vocabulary's longest
 * token), is refused before any tokenizing; a long one is tokenized off the event loop.
 */
import { tokenTable } from '../model/index.ts'
import { ContextOverflowError, throwIfAborted } from '../util/errors.ts'
import type { ServedModel } from './engine.ts'

/** The most bytes a prompt of `contextLength` tokens can have. */
export function maxPromptBytes (model: Pick<ServedModel, 'tokenizer' | 'config'>): number {
  return model.config.contextLength * Math.max(1, tokenTable(model.tokenizer).maxBytes)
}

/** Refuses text longer than any prompt the context can hold, before tokenizing it. */
export function checkPromptBytes (model: Pick<ServedModel, 'tokenizer' | 'config'>, text: string, what = 'the prompt'): void {
  const max = maxPromptBytes(model)
  // every UTF-16 code unit takes at least one byte in UTF-8
  if (text.length > max || Buffer.byteLength(text) > max) {
    throw new ContextOverflowError(`${what} is ${Buffer.byteLength(text)} bytes; the model's context of ${model.config.contextLength} tokens holds at most ${max} bytes of text`)
  }
}

export async function encodePrompt (model: ServedModel, text: string, options: { addBos?: boolean, signal?: AbortSignal } = {}): Promise<number[]> {
  checkPromptBytes(model, text)
  throwIfAborted(options.signal)
  return model.encode !== undefined
    ? await model.encode(text, { addBos: options.addBos, signal: options.signal })
    : model.tokenizer.encode(text, { addBos: options.addBos })
}

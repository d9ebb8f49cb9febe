/**
 * Tokenizing long texts on a worker thread, so that one long prompt never holds the event loop
 * (a 100 KB prompt takes 100-400 ms to tokenize). Short texts are tokenized inline. The worker
 * builds its own tokenizer from the same data, so both give the same ids; it starts on the first
 * long text, does not keep the process alive, and close() stops it. If it cannot start, texts are
 * tokenized inline.
 */
import { Worker } from 'node:worker_threads'
import { AbortError, GridError, throwIfAborted } from '../../util/errors.ts'
import { logger } from '../../util/log.ts'
import type { TokenizerData } from '../source.ts'
import type { EncodeOptions, Tokenizer } from './types.ts'

const log = logger('model:tokenizer')

/** Texts up to this many UTF-16 units are tokenized inline (a few ms at most). */
export const INLINE_CHARS = 8 * 1024

const WORKER = new URL('./encode-worker.mjs', import.meta.url)

type Reply = { id: number, ids?: Int32Array, error?: string } | { ready: true }

export class OffloadedTokenizer {
  private worker: Worker | undefined
  private started: Promise<Worker | undefined> | undefined
  private readonly pending = new Map<number, { resolve: (ids: number[]) => void, reject: (err: Error) => void }>()
  private next = 0

  constructor (private readonly tokenizer: Tokenizer, private readonly data: TokenizerData | undefined) {}

  async encode (text: string, options: EncodeOptions & { signal?: AbortSignal } = {}): Promise<number[]> {
    throwIfAborted(options.signal)
    if (text.length <= INLINE_CHARS || this.data === undefined) return this.tokenizer.encode(text, options)
    const worker = await this.start()
    if (worker === undefined) return this.tokenizer.encode(text, options)
    const id = this.next++
    return await new Promise<number[]>((resolve, reject) => {
      const onAbort = (): void => { this.pending.delete(id); reject(new AbortError('tokenizing was cancelled')) }
      options.signal?.addEventListener('abort', onAbort, { once: true })
      this.pending.set(id, {
        resolve: ids => { options.signal?.removeEventListener('abort', onAbort); resolve(ids) },
        reject: err => { options.signal?.removeEventListener('abort', onAbort); reject(err) }
      })
      worker.postMessage({ id, text, addBos: options.addBos })
    })
  }

  private async start (): Promise<Worker | undefined> {
    this.started ??= new Promise<Worker | undefined>(resolve => {
      let worker: Worker
      try {
        worker = new Worker(WORKER, { workerData: this.data })
      } catch (err) {
        log('no tokenizer worker (%s): tokenizing inline', (err as Error).message)
        resolve(undefined)
        return
      }
      worker.unref()
      worker.on('message', (m: Reply) => {
        if ('ready' in m) { this.worker = worker; resolve(worker); return }
        const p = this.pending.get(m.id)
        this.pending.delete(m.id)
        if (m.ids !== undefined) p?.resolve(Array.from(m.ids))
        else p?.reject(new GridError('INTERNAL', `tokenizing failed: ${m.error}`))
      })
      worker.on('exit', () => { if (this.worker === undefined) resolve(undefined) })
      worker.on('error', err => {
        log('tokenizer worker failed: %s', err.message)
        for (const p of this.pending.values()) p.reject(new GridError('INTERNAL', `the tokenizer worker failed: ${err.message}`))
        this.pending.clear()
        if (this.worker === undefined) resolve(undefined)
        this.worker = undefined
        this.started = undefined
      })
    })
    return await this.started
  }

  async close (): Promise<void> {
    const w = this.worker
    this.worker = undefined
    this.started = undefined
    await w?.terminate()
  }
}

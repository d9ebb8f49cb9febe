/** A small client for an OpenAI-compatible server (ours or any other), for `chat` and `demo`. */
import { EventSourceParserStream } from 'eventsource-parser/stream'
import { ApiResponseError, NetworkError, throwIfAborted } from '../util/errors.ts'

export class ApiClient {
  /** the server's root, without a trailing /v1 */
  readonly root: string
  private readonly headers: Record<string, string>

  constructor (base: string, apiKey?: string) {
    this.root = base.replace(/\/+$/, '').replace(/\/v1$/, '')
    this.headers = { 'Content-Type': 'application/json', ...(apiKey !== undefined ? { Authorization: `Bearer ${apiKey}` } : {}) }
  }

  private async call (path: string, body: unknown, signal: AbortSignal | undefined): Promise<Response> {
    let res: Response
    try {
      res = await fetch(`${this.root}${path}`, {
        method: body === undefined ? 'GET' : 'POST',
        headers: this.headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        signal
      })
    } catch (err) {
      throwIfAborted(signal)
      // fetch says only "fetch failed"; the reason is its cause (ECONNREFUSED, ENOTFOUND, ...)
      const cause = (err as { cause?: { code?: string, message?: string } }).cause
      const why = cause?.code ?? cause?.message ?? (err as Error).message
      throw new NetworkError('PEER_UNREACHABLE', `cannot reach the API server at ${this.root} (${why}); is \`gridllm api\` (or another server) running there?`, { cause: err })
    }
    if (!res.ok) {
      const text = await res.text()
      let message = text
      try { message = (JSON.parse(text) as { error?: { message?: string } }).error?.message ?? text } catch {}
      throw new ApiResponseError(res.status, message)
    }
    return res
  }

  async get (path: string, options: { signal?: AbortSignal } = {}): Promise<unknown> {
    return await (await this.call(path, undefined, options.signal)).json()
  }

  /** The first model the server lists. */
  async firstModel (options: { signal?: AbortSignal } = {}): Promise<string> {
    const list = await this.get('/v1/models', options) as { data?: Array<{ id: string }> }
    const id = list.data?.[0]?.id
    if (id === undefined) throw new ApiResponseError(404, `${this.root} serves no model`)
    return id
  }

  /** POSTs a streaming request and yields each server-sent JSON chunk until [DONE]. */
  async * stream<T> (path: string, body: object, options: { signal?: AbortSignal } = {}): AsyncGenerator<T> {
    const res = await this.call(path, { ...body, stream: true }, options.signal)
    if (res.body === null) throw new ApiResponseError(res.status, 'empty response')
    const events = res.body.pipeThrough(new TextDecoderStream()).pipeThrough(new EventSourceParserStream())
    for await (const event of events) {
      if (event.data === '[DONE]') return
      const chunk = JSON.parse(event.data) as T & { error?: { message: string } }
      if (chunk.error !== undefined) throw new ApiResponseError(res.status, chunk.error.message)
      yield chunk as T
    }
  }
}

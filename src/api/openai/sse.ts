/** Server-sent events for the OpenAI routes: one `data:` per frame, errors as OpenAI's error object. */
import type { Context } from 'hono'
import { streamSSE } from 'hono/streaming'
import { httpError } from '../errors.ts'
import type { GenerationRequest, StreamFrames } from '../request.ts'

export const json = (frame: unknown): string => JSON.stringify(frame)

export function sse (c: Context, request: GenerationRequest, frames: StreamFrames): Response {
  return streamSSE(c, async out => {
    out.onAbort(() => request.clientLeft())
    await request.stream(async data => { await out.writeSSE({ data }) }, frames)
  })
}

export const errorFrame = (err: unknown): string => json(httpError(err).body)

/**
 * Server-sent events for the OpenAI routes: one `data:` per frame, errors as OpenAI's error object.
 * The status is sent once the first token is ready, so an earlier failure gets its own status.
 */
import type { Context } from 'hono'
import { streamSSE } from 'hono/streaming'
import { httpError } from '../errors.ts'
import type { GenerationRequest, StreamFrames } from '../request.ts'

export const json = (frame: unknown): string => JSON.stringify(frame)

export async function sse (c: Context, request: GenerationRequest, frames: StreamFrames): Promise<Response> {
  await request.begin()
  return streamSSE(c, async out => {
    out.onAbort(() => request.clientLeft())
    await request.stream(async data => { await out.writeSSE({ data }) }, frames)
  })
}

export const errorFrame = (err: unknown): string => json(httpError(err).body)

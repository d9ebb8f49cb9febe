/**
 * The span worker (a module Web Worker, bundled as span-worker.js): loads a span from the weights
 * the page fetched into OPFS, on the webgpu backend (a GPU) or the wasm one with its own kernel
 * threads, and runs the
 * sessions the page's span server opens. The same ServedSpan a native server runs.
 */
import { createBackend, type Backend } from '../../src/kernels/index.ts'
import { Manifest, type SpanSession } from '../../src/model/index.ts'
import { ServedSpan } from '../../src/swarm/host.ts'
import { storeSource } from '../../src/swarm/weights/index.ts'
import { GridError } from '../../src/util/errors.ts'
import { OpfsStore } from './opfs-store.ts'
import type { SpanReply, SpanRequest } from './span-protocol.ts'

let host: ServedSpan | undefined
let backend: Backend | undefined
const sessions = new Map<string, SpanSession>()
let queue = Promise.resolve()

async function run (req: SpanRequest): Promise<{ result?: unknown, transfer?: Transferable[] }> {
  switch (req.op) {
    case 'load': {
      const manifest = Manifest.fromBytes(req.manifest, req.modelId)
      const source = await storeSource(new OpfsStore(), manifest, req.name)
      backend = await createBackend(req.backend, { threads: req.threads })
      host = await ServedSpan.load(source, backend, { start: req.start, end: req.end, modelId: req.modelId, cacheBudgetBytes: req.cacheBudgetBytes })
      return { result: { dim: host.dim, backend: backend.name } }
    }
    case 'open':
      sessions.set(req.session, await live().open(req.session, req.start, req.end, req.maxLength))
      return {}
    case 'forward': {
      const out = await session(req.session).forward(req.hidden, req.positions)
      return { result: out, transfer: [out.buffer as ArrayBuffer] }
    }
    case 'rollback':
      await session(req.session).rollback(req.position)
      return {}
    case 'close':
      await sessions.get(req.session)?.close()
      sessions.delete(req.session)
      return {}
    case 'benchmark':
      return { result: await live().benchmark({ seconds: req.seconds }) }
    case 'dispose':
      host?.close()
      backend?.dispose()
      host = undefined
      return {}
  }
}

function live (): ServedSpan {
  if (host === undefined) throw new GridError('INTERNAL', 'the span worker has no span loaded')
  return host
}

function session (id: string): SpanSession {
  const s = sessions.get(id)
  if (s === undefined) throw new GridError('UNKNOWN_SESSION', `no session ${id} in the span worker`)
  return s
}

self.addEventListener('message', (event: MessageEvent<{ id: number } & SpanRequest>) => {
  const { id } = event.data
  const answer = async (): Promise<void> => {
    let reply: SpanReply
    let transfer: Transferable[] = []
    try {
      const done = await run(event.data)
      transfer = done.transfer ?? []
      reply = { id, ok: true, result: done.result, freeCacheTokens: host?.freeCacheTokens ?? 0 }
    } catch (err) {
      reply = { id, ok: false, code: (err as GridError).code ?? 'INTERNAL', message: (err as Error).message ?? String(err), freeCacheTokens: host?.freeCacheTokens ?? 0 }
    }
    self.postMessage(reply, { transfer })
  }
  // steps run at once, so the span batches different sessions' steps (one session's come one at a
  // time: the span server waits for each result); everything else in order, as the server sends it
  if (event.data.op === 'forward') void answer()
  else queue = queue.then(answer)
})

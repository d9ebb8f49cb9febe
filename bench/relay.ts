/**
 * A TCP relay that emulates a WAN link on loopback (this kernel has no netem): every chunk is held
 * for a one-way latency, and each direction is capped to a bandwidth. Order is preserved.
 */
import { type Server, type Socket, createServer, connect } from 'node:net'

export interface RelayOptions {
  /** where to forward connections */
  targetPort: number
  targetHost?: string
  /** port to listen on; 0 picks one */
  port?: number
  /** one-way latency added to every chunk, in ms */
  delayMs: number
  /** bytes per second per direction; default unlimited */
  bytesPerSecond?: number
}

export interface Relay {
  readonly port: number
  close: () => Promise<void>
}

/** Forwards `from` → `to`, holding each chunk until arrival + delay and spacing chunks by the bandwidth. */
function pipeDelayed (from: Socket, to: Socket, delayMs: number, bytesPerSecond: number): void {
  const queue: Array<{ due: number, chunk: Buffer | null }> = [] // in arrival order; null = end of stream
  let lineFreeAt = 0 // when the emulated link finishes sending what is queued
  let pending = 0
  let timer: NodeJS.Timeout | undefined
  const maxPending = 8 * 2 ** 20
  const flush = (): void => {
    timer = undefined
    const now = performance.now()
    while (queue.length > 0 && queue[0]!.due <= now + 0.5) {
      const { chunk } = queue.shift()!
      if (chunk === null) { to.end(); return }
      pending -= chunk.byteLength
      if (!to.destroyed) to.write(chunk)
    }
    if (pending <= maxPending && from.isPaused()) from.resume()
    if (queue.length > 0) timer = setTimeout(flush, Math.max(0, queue[0]!.due - performance.now()))
  }
  const enqueue = (chunk: Buffer | null): void => {
    const start = Math.max(performance.now(), lineFreeAt)
    lineFreeAt = start + ((chunk?.byteLength ?? 0) / bytesPerSecond) * 1000
    queue.push({ due: lineFreeAt + delayMs, chunk })
    if (timer === undefined) timer = setTimeout(flush, Math.max(0, queue[0]!.due - performance.now()))
  }
  from.on('data', (chunk: Buffer) => {
    pending += chunk.byteLength
    if (pending > maxPending) from.pause()
    enqueue(chunk)
  })
  from.on('end', () => { enqueue(null) })
  from.on('error', () => { to.destroy() })
  to.on('error', () => { from.destroy() })
}

export async function startRelay (options: RelayOptions): Promise<Relay> {
  const bandwidth = options.bytesPerSecond ?? Infinity
  const sockets = new Set<Socket>()
  const server: Server = createServer(client => {
    client.setNoDelay(true)
    const upstream = connect({ port: options.targetPort, host: options.targetHost ?? '127.0.0.1', noDelay: true })
    for (const s of [client, upstream]) { sockets.add(s); s.on('close', () => sockets.delete(s)) }
    pipeDelayed(client, upstream, options.delayMs, bandwidth)
    pipeDelayed(upstream, client, options.delayMs, bandwidth)
  })
  await new Promise<void>(resolve => server.listen(options.port ?? 0, '127.0.0.1', resolve))
  const address = server.address()
  const port = typeof address === 'object' && address !== null ? address.port : 0
  return {
    port,
    close: async () => {
      for (const s of sockets) s.destroy()
      await new Promise<void>(resolve => server.close(() => { resolve() }))
    }
  }
}

/** A port that was free a moment ago. */
export async function freePort (): Promise<number> {
  const server = createServer()
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  const address = server.address()
  await new Promise<void>(resolve => server.close(() => { resolve() }))
  return typeof address === 'object' && address !== null ? address.port : 0
}

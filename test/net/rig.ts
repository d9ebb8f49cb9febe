/**
 * An in-process span server over the bundled model, and raw clients that speak the span protocol
 * message by message: for tests that play a hostile peer against a real server.
 */
import assert from 'node:assert/strict'
import { randomUUID } from 'node:crypto'
import { createBackend, type Backend } from '../../src/kernels/index.ts'
import { openModel } from '../../src/model/index.ts'
import { type Channel, type Message, NetNode, type NetNodeOptions, SPAN_PROTOCOL, SpanServer, type SpanServerOptions, encodeMessage, parsePeerAddress, parseSpanMsg } from '../../src/net/index.ts'
import type { SpanMsg } from '../../src/net/protocol.ts'
import { ServedSpan } from '../../src/swarm/host.ts'
import { encodeFrame } from '../../src/tensor/index.ts'
import { STORIES_GGUF } from '../fixtures/stories.ts'

export const DIM = 64 // stories260K

export interface Rig {
  readonly node: NetNode
  readonly server: SpanServer
  readonly host: ServedSpan
  readonly addr: string
  close (): Promise<void>
}

/** A span server for blocks 0:5 of stories260K on loopback. */
export async function startRig (options: SpanServerOptions & { cacheBudgetBytes?: number, node?: NetNodeOptions } = {}): Promise<Rig> {
  const source = await openModel(STORIES_GGUF)
  const backend: Backend = await createBackend('auto', { threads: 1 })
  const host = await ServedSpan.load(source, backend, { start: 0, end: 5, cacheBudgetBytes: options.cacheBudgetBytes })
  const node = await NetNode.create({ listen: ['/ip4/127.0.0.1/tcp/0'], dhtServer: true, ...options.node })
  const server = new SpanServer(node, host, { maxSessionLength: source.config.contextLength, ...options })
  await server.start()
  return {
    node,
    server,
    host,
    addr: node.addresses[0]!,
    close: async () => {
      await server.stop()
      await node.stop()
      host.close()
      backend.dispose()
    }
  }
}

/** A raw span-protocol stream from `node` to the rig, collecting every reply. */
export class RawClient {
  readonly replies: SpanMsg[] = []
  private read = 0

  private constructor (readonly channel: Channel) {
    channel.onMessage((m: Message) => { this.replies.push(parseSpanMsg(m)) })
  }

  static async open (node: NetNode, rig: Rig): Promise<RawClient> {
    return new RawClient(await node.open(parsePeerAddress(rig.addr), SPAN_PROTOCOL))
  }

  /** The next reply (waits up to `ms`). */
  async next (ms = 5000): Promise<SpanMsg> {
    const end = Date.now() + ms
    while (this.replies.length <= this.read && Date.now() < end) await new Promise(resolve => setTimeout(resolve, 5))
    assert.ok(this.replies.length > this.read, `a reply came within ${ms} ms`)
    return this.replies[this.read++]!
  }

  /** Waits until `n` replies came in all. */
  async count (n: number, ms = 10_000): Promise<SpanMsg[]> {
    const end = Date.now() + ms
    while (this.replies.length < n && Date.now() < end) await new Promise(resolve => setTimeout(resolve, 5))
    return this.replies
  }

  openMsg (rig: Rig, fields: Record<string, unknown> = {}): { t: 'open', session: string } & Record<string, unknown> {
    return { t: 'open', session: randomUUID(), model: rig.host.modelId, start: 0, end: 5, maxLength: 16, ...fields }
  }

  async openSession (rig: Rig, fields: Record<string, unknown> = {}): Promise<string> {
    const msg = this.openMsg(rig, fields)
    await this.channel.send(msg)
    const reply = await this.next()
    assert.equal(reply.t, 'opened', `opened, got ${JSON.stringify(reply)}`)
    return msg.session
  }

  /** Several messages in one write (so the server parses them in one go). */
  async burst (messages: ReadonlyArray<{ header: Record<string, unknown> & { t: string }, payload?: Uint8Array }>): Promise<void> {
    const parts = messages.map(m => encodeMessage(m.header, m.payload))
    const out = new Uint8Array(parts.reduce((n, p) => n + p.byteLength, 0))
    let at = 0
    for (const p of parts) { out.set(p, at); at += p.byteLength }
    await this.channel.sendRaw(out)
  }
}

export function hidden (rows: number, seed = 0): Uint8Array {
  return encodeFrame(Float32Array.from({ length: rows * DIM }, (_, i) => Math.sin(i * 0.37 + seed)), [rows, DIM])
}

export function stepMsg (session: string, step: number, from: number, push = false): Record<string, unknown> & { t: 'step' } {
  return { t: 'step', session, step, from, push, commitment: null }
}

export function assertError (reply: SpanMsg, code: string): void {
  assert.equal(reply.t, 'error', `expected an error reply, got ${JSON.stringify(reply)}`)
  assert.equal(reply.t === 'error' && reply.code, code, JSON.stringify(reply))
}

/** Polls until `check()` holds or `ms` pass. */
export async function until (check: () => boolean, ms = 5000): Promise<boolean> {
  const end = Date.now() + ms
  while (!check() && Date.now() < end) await new Promise(resolve => setTimeout(resolve, 10))
  return check()
}

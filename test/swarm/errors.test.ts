/**
 * Test 3: malformed frames, corrupt frames, wrong shapes, unknown sessions, oversized frames and
 * messages, a wrong model id and a span the server does not serve each get a typed error reply,
 * while a healthy session on the same server keeps producing exactly the local span's outputs.
 */
import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { randomUUID } from 'node:crypto'
import { createBackend } from '../../src/kernels/index.ts'
import { LocalSpanExecutor, type SpanSession, openModel } from '../../src/model/index.ts'
import { type Channel, type Message, NetNode, RemoteSpanSession, SPAN_PROTOCOL, encodeMessage, parsePeerAddress, parseSpanMsg } from '../../src/net/index.ts'
import { encodeFrame } from '../../src/tensor/index.ts'
import { STORIES, type ServerProcess, startServer, stopServers } from './harness.ts'

const DIM = 64 // stories260K

describe('a server under bad requests', () => {
  let server: ServerProcess
  let node: NetNode
  let localSpan: LocalSpanExecutor
  let modelId: string
  let healthy: RemoteSpanSession
  let localSession: SpanSession
  const outputs = new Map<number, Float32Array>()
  const failures: Error[] = []
  let step = 0

  /** One more token through the healthy remote session, checked against the local span. */
  async function healthyStep (): Promise<void> {
    const hidden = Float32Array.from({ length: DIM }, (_, i) => Math.cos(i + step)) // (1, dim)
    const k = step++
    const want = await localSession.forward(hidden, [k])
    await healthy.step(k, k, hidden, false)
    for (let t = 0; t < 500 && !outputs.has(k); t++) await new Promise(resolve => setTimeout(resolve, 10))
    assert.deepEqual(failures, [])
    assert.deepEqual(outputs.get(k), want, `healthy step ${k}`)
  }

  before(async () => {
    server = await startServer(STORIES, ['--blocks', '0:3', '--max-frame-mib', '1'])
    const source = await openModel(STORIES)
    localSpan = await LocalSpanExecutor.load(source, await createBackend('auto'), { start: 0, end: 3 })
    modelId = localSpan.modelId
    localSession = await localSpan.open('local', { maxLength: 64 })
    node = await NetNode.create({ bootstrap: [server.addr] })
    healthy = await RemoteSpanSession.open(node, parsePeerAddress(server.addr), { session: randomUUID(), model: modelId, start: 0, end: 3, maxLength: 64 }, DIM, {
      onResult: (k, out) => { outputs.set(k, out) },
      onFailure: err => { failures.push(err) }
    })
    await healthyStep()
  })

  after(async () => {
    await localSpan?.close()
    await healthy?.close()
    await node?.stop()
    await stopServers([server])
  })

  /** A raw stream to the server, collecting the replies. */
  async function raw (): Promise<{ channel: Channel, replies: Message[], next: () => Promise<ReturnType<typeof parseSpanMsg>> }> {
    const channel = await node.open(parsePeerAddress(server.addr), SPAN_PROTOCOL)
    const replies: Message[] = []
    channel.onMessage(m => replies.push(m))
    let read = 0
    const next = async (): Promise<ReturnType<typeof parseSpanMsg>> => {
      for (let t = 0; t < 500 && replies.length <= read; t++) await new Promise(resolve => setTimeout(resolve, 10))
      assert.ok(replies.length > read, 'a reply came')
      return parseSpanMsg(replies[read++]!)
    }
    return { channel, replies, next }
  }

  async function openRaw (c: Channel, next: () => Promise<ReturnType<typeof parseSpanMsg>>, fields: Record<string, unknown> = {}): Promise<string> {
    const session = randomUUID()
    await c.send({ t: 'open', session, model: modelId, start: 0, end: 3, maxLength: 16, ...fields })
    const reply = await next()
    assert.equal(reply.t, 'opened')
    return session
  }

  function assertError (reply: ReturnType<typeof parseSpanMsg>, code: string): void {
    assert.equal(reply.t, 'error', `expected an error reply, got ${JSON.stringify(reply)}`)
    assert.equal(reply.t === 'error' && reply.code, code)
  }

  test('wrong model id and a span not served', async () => {
    const { channel, next } = await raw()
    await channel.send({ t: 'open', session: randomUUID(), model: 'f'.repeat(32), start: 0, end: 3, maxLength: 16 })
    assertError(await next(), 'WRONG_MODEL')
    await channel.send({ t: 'open', session: randomUUID(), model: modelId, start: 2, end: 5, maxLength: 16 })
    assertError(await next(), 'SPAN_NOT_SERVED')
    await channel.send({ t: 'open', session: randomUUID(), model: modelId, start: 0, end: 3, maxLength: 100_000 })
    assertError(await next(), 'CONTEXT_OVERFLOW')
    await healthyStep()
    await channel.close()
  })

  test('unknown session', async () => {
    const { channel, next } = await raw()
    await channel.send({ t: 'step', session: randomUUID(), step: 0, from: 0, push: false, commitment: null }, encodeFrame(new Float32Array(DIM), [1, DIM]))
    assertError(await next(), 'UNKNOWN_SESSION')
    await healthyStep()
    await channel.close()
  })

  test('malformed, corrupt and wrong-shape frames; the session survives them', async () => {
    const { channel, next } = await raw()
    const session = await openRaw(channel, next)
    const step = async (k: number, payload: Uint8Array): Promise<ReturnType<typeof parseSpanMsg>> => {
      await channel.send({ t: 'step', session, step: k, from: 0, push: false, commitment: null }, payload)
      return await next()
    }
    assertError(await step(0, new Uint8Array(100).fill(7)), 'BAD_FRAME')
    const corrupt = encodeFrame(Float32Array.from({ length: DIM }, (_, i) => i), [1, DIM])
    corrupt[corrupt.length - 5]! ^= 0xff
    assertError(await step(0, corrupt), 'FRAME_CHECKSUM')
    assertError(await step(0, encodeFrame(new Float32Array(DIM + 1), [1, DIM + 1])), 'SHAPE_MISMATCH')
    assertError(await step(0, encodeFrame(new Float32Array(DIM * 2), [2, DIM, 1])), 'SHAPE_MISMATCH')
    await healthyStep()
    // the same session still works with a good frame
    const ok = await step(0, encodeFrame(new Float32Array(DIM).fill(0.5), [1, DIM]))
    assert.equal(ok.t, 'result')
    await channel.close()
  })

  test('an oversized frame, a bad header, and an oversized message that ends only its own stream', async () => {
    const { channel, next } = await raw()
    const session = await openRaw(channel, next)
    // a frame whose header claims 4 MiB (the server takes 1 MiB)
    const big = encodeFrame(new Float32Array(DIM), [1, DIM])
    new DataView(big.buffer).setUint32(8, 16384, true)
    new DataView(big.buffer).setUint32(16, 16384 * DIM * 4, true)
    await channel.send({ t: 'step', session, step: 0, from: 0, push: false, commitment: null }, big)
    assertError(await next(), 'FRAME_TOO_LARGE')
    await channel.sendRaw(new Uint8Array([5, 0, 0, 0, 1, 0, 0, 0, 0x7b])) // header "{" is not JSON
    assertError(await next(), 'BAD_MESSAGE')
    await channel.send({ t: 'teleport', session })
    assertError(await next(), 'BAD_MESSAGE')
    await healthyStep()
    // 2 MiB in one message: over the limit, so the server says why and closes this stream
    const huge = encodeMessage({ t: 'step', session, step: 0, from: 0, push: false, commitment: null }, new Uint8Array(2 * 2 ** 20))
    await channel.sendRaw(huge).catch(() => {})
    assertError(await next(), 'MESSAGE_TOO_LARGE')
    for (let t = 0; t < 200 && channel.isOpen; t++) await new Promise(resolve => setTimeout(resolve, 10))
    assert.equal(channel.isOpen, false)
    await healthyStep()
    await healthyStep()
    assert.equal(server.proc.exitCode, null)
  })
})

/**
 * The attacker of bench/flood.ts, in a process of its own: against every server it is given, one
 * peer opens 1,000 sessions (as big as the context allows) and 16 streams each holding half of a
 * 64 MiB message, and 400 other peers each hold an idle connection. Prints one JSON line of what it
 * got once the attack is in place, then holds everything until it is killed.
 *
 *   node --import ./bin/polyfill.mjs --import tsx bench/flood-attacker.ts <model id> <context> <start:end@multiaddr>...
 */
import { randomUUID } from 'node:crypto'
import { type Channel, NetNode, SPAN_PROTOCOL, encodeMessage, parsePeerAddress, parseSpanMsg } from '../src/net/index.ts'

const [model, context, ...args] = process.argv.slice(2)
const targets = args.map(a => { const [span, addr] = a.split('@'); const [start, end] = span!.split(':').map(Number); return { addr: addr!, start: start!, end: end! } })
const SESSIONS = 1000
const HALF_SENT = 16
const IDLE_PEERS = 400

const attacker = await NetNode.create({ bootstrap: [targets[0]!.addr] })
const held: Channel[] = []
const report = { sessions_opened: 0, sessions_refused: 0, refusals: {} as Record<string, number>, half_sent_accepted: 0, half_sent_refused: 0, idle_connections: 0 }

await Promise.all(targets.map(async ({ addr, start, end }) => {
  const peer = parsePeerAddress(addr)
  // 1,000 sessions in bursts of 100 messages per write
  const channel = await attacker.open(peer, SPAN_PROTOCOL)
  held.push(channel)
  let replies = 0
  channel.onMessage(raw => {
    const m = parseSpanMsg(raw)
    replies++
    if (m.t === 'opened') report.sessions_opened++
    else if (m.t === 'error') { report.sessions_refused++; report.refusals[m.code] = (report.refusals[m.code] ?? 0) + 1 }
  })
  for (let i = 0; i < SESSIONS; i += 100) {
    const parts = Array.from({ length: 100 }, () => encodeMessage({ t: 'open', session: randomUUID(), model: model!, start, end, maxLength: Number(context) }))
    await channel.sendRaw(Buffer.concat(parts))
  }
  for (let t = 0; t < 600 && replies < SESSIONS; t++) await new Promise(resolve => setTimeout(resolve, 50))
  // 16 streams, each with half of a 64 MiB message
  await Promise.all(Array.from({ length: HALF_SENT }, async () => {
    const s = await attacker.open(peer, SPAN_PROTOCOL)
    held.push(s)
    let refused = false
    s.onMessage(raw => { if (parseSpanMsg(raw).t === 'error') refused = true })
    s.onClose(() => { refused = true })
    const message = encodeMessage({ t: 'step', session: randomUUID(), step: 0, from: 0, push: false, commitment: null }, new Uint8Array(64 * 2 ** 20 - 256))
    try {
      for (let at = 0; at < message.byteLength / 2 && !refused; at += 2 ** 20) await s.sendRaw(message.subarray(at, at + 2 ** 20))
    } catch {
      refused = true
    }
    for (let t = 0; t < 50 && !refused; t++) await new Promise(resolve => setTimeout(resolve, 100))
    if (refused) report.half_sent_refused++
    else report.half_sent_accepted++
  }))
}))

// 400 more peers, each holding an idle connection to every server
const idle: NetNode[] = []
for (let i = 0; i < IDLE_PEERS; i += 20) {
  const batch = await Promise.all(Array.from({ length: 20 }, async () => await NetNode.create()))
  idle.push(...batch)
  await Promise.all(batch.flatMap(n => targets.map(async ({ addr }) => {
    try { await n.ping(parsePeerAddress(addr)); report.idle_connections++ } catch { /* refused: the server is full */ }
  })))
}
console.log(JSON.stringify(report))
await new Promise(() => {}) // hold it all until killed

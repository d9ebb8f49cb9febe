/**
 * `/gridllm/ledger/1.0.0`: the credit ledger's small request/response protocol. One stream per
 * request: the asker sends one message, the answerer replies with one and both close. Messages are
 * JSON headers only (blocks and receipts are small); what they mean is the ledger's (src/ledger):
 *
 *   settle  {debit, receipt}   → agreed {credit}        a payer's half of a settlement, the payee's answer
 *   witness {block}            → noted {} | fork {a, b} a payer's block, for the account's witnesses
 *   fork    {a, b}             → noted {}               two blocks of one account with one sequence number
 *   misconduct {after, blocks} → noted {}               a segment of one account's chain that breaks the rules
 *   chain   {account, from}    → blocks {blocks}        an account's blocks from a sequence number on
 *   attest  {attestation}      → minted {result, amount?} a consumer's attestation of a server's audited work
 *   any failure                → error {code, message}
 */
import { GridError, ProtocolError, RemoteError } from '../util/errors.ts'
import { logger } from '../util/log.ts'
import { deadline } from '../util/timeout.ts'
import type { Header } from './channel.ts'
import type { NetNode, PeerAddress } from './node.ts'

const log = logger('net:ledger')

export const LEDGER_PROTOCOL = '/gridllm/ledger/1.0.0'
const MAX_MESSAGE_BYTES = 1024 * 1024

export type LedgerHandler = (peer: string, request: Header) => Promise<Header>

/** Answers ledger requests with `handler` (its throws become error replies). */
export async function serveLedger (node: NetNode, handler: LedgerHandler): Promise<void> {
  await node.handle(LEDGER_PROTOCOL, channel => {
    let answered = false
    channel.onMessage(msg => {
      if (answered) return
      answered = true
      void (async () => {
        let reply: Header
        try {
          reply = await handler(channel.peer, msg.header)
        } catch (err) {
          const code = err instanceof GridError ? err.code : 'INTERNAL'
          if (!(err instanceof GridError)) log('ledger request from %s failed: %s', channel.peer.slice(-8), (err as Error).message)
          reply = { t: 'error', code, message: (err as Error).message.slice(0, 1000) }
        }
        await channel.send(reply).catch(() => {})
        await channel.close().catch(() => {})
      })()
    })
  }, { maxMessageBytes: MAX_MESSAGE_BYTES, maxStreamsPerConnection: 32 })
}

/** Sends one ledger request to `peer` and returns its reply; an error reply is thrown as a RemoteError. */
export async function ledgerRequest (node: NetNode, peer: PeerAddress, request: Header, options: { signal?: AbortSignal, timeoutMs?: number } = {}): Promise<Header> {
  const d = deadline(options.timeoutMs ?? 15_000, options.signal)
  try {
    const channel = await node.open(peer, LEDGER_PROTOCOL, { signal: d.signal, maxMessageBytes: MAX_MESSAGE_BYTES })
    try {
      const reply = Promise.withResolvers<Header>()
      const onAbort = (): void => { reply.reject(d.signal.reason) }
      d.signal.addEventListener('abort', onAbort, { once: true })
      channel.onMessage(msg => { reply.resolve(msg.header) })
      channel.onClose(err => { reply.reject(err ?? new ProtocolError('BAD_MESSAGE', `${peer.id.slice(-8)} closed the ledger stream without an answer`)) })
      await channel.send(request)
      const h = await reply.promise.finally(() => { d.signal.removeEventListener('abort', onAbort) })
      if (h.t === 'error') throw new RemoteError((typeof h.code === 'string' ? h.code : 'INTERNAL') as GridError['code'], typeof h.message === 'string' ? h.message : '', peer.id)
      return h
    } finally {
      await channel.close().catch(() => {})
    }
  } finally {
    d.clear()
  }
}

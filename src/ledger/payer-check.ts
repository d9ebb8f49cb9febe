/**
 * A payee reads what a payer signed since the last block of it the payee saw, before it takes the
 * payer's debit: the blocks in between come from the payer's own ledger service (the `chain`
 * request; the payer is online, waiting for the agreement) and are checked with the debit as
 * anyone can (chain-check.ts). So a balance that does not add up, or a mint its attestation does not
 * back, is found by the first server paid with it. Such a segment is a misconduct proof: all of it
 * signed by the account, checkable by anyone with nothing else, published like a fork proof.
 *
 * What a segment cannot show: mints before it (a cap spread over segments that different payees
 * see is caught only by whoever reads the whole chain), and whether a credit's payer really paid.
 */
import { type NetNode, type PeerAddress, ledgerRequest } from '../net/index.ts'
import { PaymentError } from '../util/errors.ts'
import { type Block, blockHash, parseBlock } from './block.ts'
import { ChainChecker } from './chain-check.ts'
import type { LedgerStore } from './store.ts'

/** the most blocks a payee reads before a debit (older ones it takes on trust) */
export const MAX_SEGMENT = 256

/** Blocks of one account, each signed by it, that break the rules: `after` (unchecked, the block before) and then `blocks`. */
export interface Misconduct {
  readonly after: Block | null
  readonly blocks: readonly Block[]
}

/**
 * What a segment shows against its account: `unprovable` if a block in it is not the account's own
 * doing (a signature that does not hold, a gap, a link to another history: anyone could send such
 * blocks), else the rules its signed blocks break (none: it holds).
 */
async function segmentProblems (m: Misconduct): Promise<{ unprovable: boolean, problems: string[] }> {
  const account = m.blocks[0]?.account
  const no = { unprovable: true, problems: [] }
  if (account === undefined || m.blocks.length > MAX_SEGMENT + 1) return no
  if (m.after !== null && (m.after.account !== account || m.after.seq + 1 !== m.blocks[0]!.seq)) return no
  const checker = new ChainChecker(account, m.after ?? undefined)
  const problems: string[] = []
  for (const b of m.blocks) {
    const own = await checker.check(b)
    if (own.some(p => /signature does not hold|previous block's hash|out of sequence|belongs to/.test(p))) return no
    problems.push(...own)
  }
  return { unprovable: false, problems }
}

/** The rules a misconduct proof shows its account broke (empty: it proves nothing). */
export async function misconductProblems (m: Misconduct): Promise<string[]> {
  return (await segmentProblems(m)).problems
}

export type PayerCheck =
  | { readonly ok: true }
  | { readonly ok: false, readonly proof: Misconduct, readonly problems: readonly string[] }

/**
 * Checks `debit` with the payer's blocks since the last one `store` has seen (at most MAX_SEGMENT
 * of them), read from `sender` (the peer that sent the debit: an account's key need not be its
 * node's). Throws PAYMENT_INVALID if the payer does not show blocks that lead to its debit.
 */
export async function checkPayer (node: NetNode, store: LedgerStore, debit: Block, sender: string, options: { signal?: AbortSignal } = {}): Promise<PayerCheck> {
  const latest = store.latest(debit.account)
  const prior = latest !== undefined && latest.seq < debit.seq ? latest : store.seen(debit.account, debit.seq - 1)
  if (prior !== undefined && prior.seq >= debit.seq - 1) return await verdict(prior, [debit])
  const from = Math.max(prior === undefined ? 0 : prior.seq + 1, debit.seq - MAX_SEGMENT)
  const blocks = await readChain(node, { id: sender, addrs: [] }, debit.account, from, debit.seq, options)
  // a gap longer than a segment: its first block is taken on trust, as the one the rest follows
  const after = prior !== undefined && prior.seq === from - 1 ? prior : from === 0 ? undefined : blocks.shift()
  if (blocks.length !== debit.seq - (after === undefined ? 0 : after.seq + 1)) throw new PaymentError('PAYMENT_INVALID', 'the payer did not show the blocks before its debit')
  const last = blocks[blocks.length - 1] ?? after
  if (last !== undefined && debit.prev !== blockHash(last)) throw new PaymentError('PAYMENT_INVALID', 'the blocks the payer showed do not lead to its debit')
  return await verdict(after, [...blocks, debit])
}

async function verdict (after: Block | undefined, blocks: Block[]): Promise<PayerCheck> {
  const proof = { after: after ?? null, blocks }
  const { unprovable, problems } = await segmentProblems(proof)
  if (unprovable) throw new PaymentError('PAYMENT_INVALID', 'the blocks the payer showed are not one chain of its own')
  return problems.length === 0 ? { ok: true } : { ok: false, proof, problems }
}

/** An account's blocks [from, to) from the ledger service at `peer` that keeps them. */
async function readChain (node: NetNode, peer: PeerAddress, account: string, from: number, to: number, options: { signal?: AbortSignal }): Promise<Block[]> {
  const out: Block[] = []
  for (let next = from; next < to;) {
    const reply = await ledgerRequest(node, peer, { t: 'chain', account, from: next }, { signal: options.signal, timeoutMs: 10_000 })
    const got = Array.isArray(reply.blocks) ? reply.blocks.map(parseBlock) : []
    const took = next
    for (const b of got) {
      if (b.seq !== next || next >= to) break
      out.push(b)
      next++
    }
    if (next === took) break
  }
  return out
}

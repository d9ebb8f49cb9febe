/**
 * Blocks of an account's chain (TrustChain's half-blocks). Every account keeps its own chain: block
 * `seq` names the hash of block `seq - 1`, and each is signed by the account. A settlement is a pair:
 * the payer's `debit` (carrying the receipt it pays) and the payee's `credit`, which names the
 * debit's hash in `link`; each side keeps the other's block as proof. Two validly signed blocks of
 * one account with one sequence number are a fork proof: the account double-spent.
 *
 *   open    seq 0: the identity's grant, earned by a proof of work in `data` ({bits, nonce})
 *   debit   pays `counterparty` for the receipt in `data` (its hash in `receipt`); amount < 0
 *   credit  is paid by `counterparty`'s debit `link` (receipt hash in `receipt`); amount > 0
 *   mint    audited work, attested in `data`; amount > 0, capped per epoch
 *   slash   a checked fraud proof against this account (its id in `receipt`); amount < 0
 */
import { sha256Hex, fromHex, toHex } from '../util/digest.ts'
import { PaymentError } from '../util/errors.ts'
import { type Signer, verifySignature } from '../net/index.ts'

export type BlockKind = 'open' | 'debit' | 'credit' | 'mint' | 'slash'

export interface Block {
  readonly v: 1
  readonly account: string
  readonly seq: number
  /** hash of block seq - 1; null for seq 0 */
  readonly prev: string | null
  readonly kind: BlockKind
  readonly counterparty: string | null
  /** µcr: negative for debits and slashes */
  readonly amount: number
  /** µcr, after this block */
  readonly balance: number
  /** debit, credit: the receipt's hash; slash: the fraud proof's id */
  readonly receipt: string | null
  /** credit: the hash of the payer's debit */
  readonly link: string | null
  /** ms since the epoch */
  readonly at: number
  readonly data: unknown
  readonly sig: string
}

export type UnsignedBlock = Omit<Block, 'sig'>

const KINDS = new Set<BlockKind>(['open', 'debit', 'credit', 'mint', 'slash'])
const HEX64 = /^[0-9a-f]{64}$/
const SIG = /^[0-9a-f]{128}$/

/** The bytes an account signs: everything but the signature, in a fixed order. */
export function blockBytes (b: UnsignedBlock): Uint8Array {
  return new TextEncoder().encode('gridllm-block:' + JSON.stringify([b.v, b.account, b.seq, b.prev, b.kind, b.counterparty, b.amount, b.balance, b.receipt, b.link, b.at, b.data ?? null]))
}

/** A block's name: SHA-256 of what its account signed. */
export function blockHash (b: UnsignedBlock): string {
  return sha256Hex(blockBytes(b))
}

export async function signBlock (b: UnsignedBlock, signer: Signer): Promise<Block> {
  if (b.account !== signer.peerId) throw new PaymentError('LEDGER_INVALID', `cannot sign a block of ${b.account} as ${signer.peerId}`)
  return { ...b, sig: toHex(await signer.sign(blockBytes(b))) }
}

export async function verifyBlockSignature (b: Block): Promise<boolean> {
  return SIG.test(b.sig) && await verifySignature(b.account, blockBytes(b), fromHex(b.sig))
}

const int = (v: unknown): v is number => Number.isSafeInteger(v)

/** Checks a block's form (from the wire or the store); throws PAYMENT_INVALID. Not its signature. */
export function parseBlock (v: unknown): Block {
  const b = v as Record<string, unknown>
  const bad = (why: string): never => { throw new PaymentError('PAYMENT_INVALID', `not a ledger block: ${why}`) }
  if (typeof b !== 'object' || b === null || Array.isArray(b)) bad('not an object')
  if (b.v !== 1) bad('unknown version')
  if (typeof b.account !== 'string' || b.account.length > 100) bad('account')
  if (!int(b.seq) || (b.seq as number) < 0) bad('seq')
  if (b.seq === 0 ? b.prev !== null : typeof b.prev !== 'string' || !HEX64.test(b.prev)) bad('prev')
  if (typeof b.kind !== 'string' || !KINDS.has(b.kind as BlockKind)) bad('kind')
  if (b.counterparty !== null && (typeof b.counterparty !== 'string' || b.counterparty.length > 100)) bad('counterparty')
  if (!int(b.amount) || !int(b.balance) || !int(b.at)) bad('amount, balance and time must be integers')
  for (const k of ['receipt', 'link'] as const) if (b[k] !== null && (typeof b[k] !== 'string' || !HEX64.test(b[k] as string))) bad(k)
  if (typeof b.sig !== 'string' || !SIG.test(b.sig)) bad('sig')
  return { v: 1, account: b.account as string, seq: b.seq as number, prev: b.prev as string | null, kind: b.kind as BlockKind, counterparty: b.counterparty as string | null,
    amount: b.amount as number, balance: b.balance as number, receipt: b.receipt as string | null, link: b.link as string | null, at: b.at as number, data: b.data ?? null, sig: b.sig as string }
}

/** A fork proof: two blocks of one account with one sequence number, both signed by it. */
export interface ForkProof {
  readonly a: Block
  readonly b: Block
}

/** Whether a fork proof holds: anyone can check it with nothing but the two blocks. */
export async function checkFork (p: ForkProof): Promise<boolean> {
  return p.a.account === p.b.account && p.a.seq === p.b.seq && blockHash(p.a) !== blockHash(p.b) &&
    await verifyBlockSignature(p.a) && await verifyBlockSignature(p.b)
}

/** The proof-of-work digest of a grant: leading zero bits of SHA-256("gridllm-grant:" account ":" nonce). */
export function grantBits (account: string, nonce: number): number {
  const hex = sha256Hex(new TextEncoder().encode(`gridllm-grant:${account}:${nonce}`))
  let bits = 0
  for (const ch of hex) {
    const n = parseInt(ch, 16)
    if (n === 0) { bits += 4; continue }
    bits += Math.clz32(n) - 28
    break
  }
  return bits
}

/** Finds a nonce with at least `bits` leading zero bits (about 2^bits hashes). */
export function proveWork (account: string, bits: number): number {
  for (let nonce = 0; ; nonce++) if (grantBits(account, nonce) >= bits) return nonce
}

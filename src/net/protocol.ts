/**
 * The span session protocol, `/gridllm/span/1.0.0`. One stream per hop per session, opened by the
 * client; a server pushing its output to the next hop opens one more stream per session to it.
 *
 *   client → server  open     {session, model, start, end, maxLength, dtype?, next?, payment?}
 *                              payment = the client's signed PayWord commitment (payment.ts)
 *   server → client  opened   {session, freeCacheTokens}
 *   any    → server  step     {session, step, from, push, commitment} + hidden frame (n, dim)
 *   server → client  result   {session, step, commitment} + output frame (n, dim)
 *                              commitment = {input, output, sig}: the server's signed claim (commitment.ts)
 *   client → server  pay      {session, tokens, preimage}  (the first `tokens` tokens are paid)
 *   client → server  next     {session, next}       (re-point the push target after a failover)
 *   client → server  rollback {session, position}
 *   client → server  close    {session}
 *   either way       error    {session?, step?, code, message, retryAfterMs?}
 *
 * `step` rows sit at positions from .. from + n - 1; a step whose `from` lies before the end of the
 * session's cache first drops the positions from `from` on (an implicit rollback, which cannot be
 * overtaken by a step pushed along another path as a separate rollback can). Step ids rise for
 * the whole session, rollbacks or not. With `push` the server also sends its output
 * as a step to `next` (another server's session), and every server returns a `result` copy to the
 * client that opened its session (the last hop's is the chain's output). A result's `commitment` is
 * the server's signature over what it computed (src/net/commitment.ts); a step's `commitment` is
 * reserved and null. Capacity errors (BUSY,
 * CACHE_BUDGET_EXCEEDED) carry `retryAfterMs`, the server's hint of when to ask again.
 */
import { FRAME_DTYPES, type FrameDType } from '../tensor/index.ts'
import { type ErrorCode, ProtocolError, retryAfterMs } from '../util/errors.ts'
import type { Header, Message } from './channel.ts'
import { type StepCommitment, parseCommitment } from './commitment.ts'
import { type PayMsg, type PaymentCommitment, parsePayMsg, parsePaymentCommitment } from './payment.ts'

export const SPAN_PROTOCOL = '/gridllm/span/1.0.0'

export interface NextHop {
  readonly peer: string
  readonly addrs: readonly string[]
  /** the session id at that peer */
  readonly session: string
}

export type OpenMsg = { readonly t: 'open', readonly session: string, readonly model: string, readonly start: number, readonly end: number, readonly maxLength: number, readonly dtype: FrameDType, readonly next: NextHop | null, readonly payment: PaymentCommitment | null }
export type OpenedMsg = { readonly t: 'opened', readonly session: string, readonly freeCacheTokens: number }
export type StepMsg = { readonly t: 'step', readonly session: string, readonly step: number, readonly from: number, readonly push: boolean, readonly commitment: string | null }
export type ResultMsg = { readonly t: 'result', readonly session: string, readonly step: number, readonly commitment: StepCommitment | null }
export type NextMsg = { readonly t: 'next', readonly session: string, readonly next: NextHop | null }
export type RollbackMsg = { readonly t: 'rollback', readonly session: string, readonly position: number }
export type CloseMsg = { readonly t: 'close', readonly session: string }
export type ErrorMsg = { readonly t: 'error', readonly session: string | null, readonly step: number | null, readonly code: ErrorCode, readonly message: string, readonly retryAfterMs?: number }

export type SpanMsg = OpenMsg | OpenedMsg | StepMsg | ResultMsg | NextMsg | RollbackMsg | CloseMsg | ErrorMsg | PayMsg

const SESSION_RE = /^[A-Za-z0-9_-]{8,64}$/
const CODE_RE = /^[A-Z][A-Z0-9_]{1,39}$/

function bad (message: string): never {
  throw new ProtocolError('BAD_MESSAGE', message)
}

function str (h: Header, key: string, re?: RegExp): string {
  const v = h[key]
  if (typeof v !== 'string' || (re !== undefined && !re.test(v))) bad(`"${h.t}" needs a valid string field "${key}"`)
  return v
}

function uint (h: Header, key: string): number {
  const v = h[key]
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) bad(`"${h.t}" needs a non-negative integer field "${key}"`)
  return v
}

function nextHop (v: unknown): NextHop | null {
  if (v === null || v === undefined) return null
  const h = v as Record<string, unknown>
  if (typeof h !== 'object' || typeof h.peer !== 'string' || typeof h.session !== 'string' || !SESSION_RE.test(h.session) ||
    !Array.isArray(h.addrs) || h.addrs.length > 16 || !h.addrs.every(a => typeof a === 'string' && a.length < 512)) {
    bad('"next" must be {peer, addrs, session}')
  }
  return { peer: h.peer, addrs: h.addrs as string[], session: h.session }
}

/** Checks a received message's header and returns it typed. */
export function parseSpanMsg (msg: Message): SpanMsg {
  const h = msg.header
  const session = (): string => str(h, 'session', SESSION_RE)
  const needPayload = (want: boolean): void => {
    if ((msg.payload.byteLength > 0) !== want) bad(`"${h.t}" ${want ? 'needs' : 'takes no'} tensor frame`)
  }
  switch (h.t) {
    case 'open': {
      needPayload(false)
      const dtype = (h.dtype ?? 'f32') as FrameDType
      if (!FRAME_DTYPES.includes(dtype)) bad(`"open" dtype must be one of ${FRAME_DTYPES.join(', ')}`)
      return { t: 'open', session: session(), model: str(h, 'model'), start: uint(h, 'start'), end: uint(h, 'end'), maxLength: uint(h, 'maxLength'), dtype, next: nextHop(h.next), payment: parsePaymentCommitment(h.payment) }
    }
    case 'opened':
      return { t: 'opened', session: session(), freeCacheTokens: uint(h, 'freeCacheTokens') }
    case 'step':
      needPayload(true)
      if (typeof h.push !== 'boolean') bad('"step" needs a boolean "push"')
      return { t: 'step', session: session(), step: uint(h, 'step'), from: uint(h, 'from'), push: h.push, commitment: typeof h.commitment === 'string' ? h.commitment : null }
    case 'result':
      needPayload(true)
      return { t: 'result', session: session(), step: uint(h, 'step'), commitment: parseCommitment(h.commitment) }
    case 'next':
      needPayload(false)
      return { t: 'next', session: session(), next: nextHop(h.next) }
    case 'pay':
      needPayload(false)
      return parsePayMsg(h)
    case 'rollback':
      needPayload(false)
      return { t: 'rollback', session: session(), position: uint(h, 'position') }
    case 'close':
      needPayload(false)
      return { t: 'close', session: session() }
    case 'error':
      return {
        t: 'error',
        session: typeof h.session === 'string' ? h.session : null,
        step: typeof h.step === 'number' ? h.step : null,
        code: (typeof h.code === 'string' && CODE_RE.test(h.code) ? h.code : 'INTERNAL') as ErrorCode,
        message: typeof h.message === 'string' ? h.message.slice(0, 1000) : '',
        ...(typeof h.retryAfterMs === 'number' && Number.isFinite(h.retryAfterMs) && h.retryAfterMs >= 0 ? { retryAfterMs: Math.min(h.retryAfterMs, 600_000) } : {})
      }
    default:
      return bad(`unknown message type "${String(h.t).slice(0, 32)}"`)
  }
}

export function errorMsg (err: unknown, session: string | null = null, step: number | null = null): ErrorMsg {
  const code = (err as { code?: unknown }).code
  const hint = retryAfterMs(err)
  return {
    t: 'error',
    session,
    step,
    code: typeof code === 'string' && CODE_RE.test(code) ? code as ErrorCode : 'INTERNAL',
    message: err instanceof Error ? err.message : String(err),
    ...(hint !== undefined ? { retryAfterMs: Math.round(hint) } : {})
  }
}

/**
 * Every error gridllm throws on purpose is a GridError: a class with a `name` and a stable `code`
 * that callers (and the HTTP API's status table) match on. Messages are for people; codes are for code.
 */

export type ErrorCode =
  // input and configuration
  | 'INVALID_ARGUMENT'
  | 'INVALID_CONFIG'
  | 'FILE_NOT_FOUND'
  // model files
  | 'BAD_MODEL_FILE'
  | 'UNSUPPORTED_TENSOR_TYPE'
  | 'UNSUPPORTED_ARCHITECTURE'
  | 'UNSUPPORTED_TOKENIZER'
  | 'MISSING_TENSOR'
  | 'SHAPE_MISMATCH'
  // runtime
  | 'CONTEXT_OVERFLOW'
  | 'CACHE_BUDGET_EXCEEDED'
  | 'BAD_POSITIONS'
  | 'SESSION_CLOSED'
  | 'SESSION_EXISTS'
  | 'UNKNOWN_SESSION'
  | 'SPAN_NOT_SERVED'
  | 'WRONG_MODEL'
  | 'ABORTED'
  | 'TIMEOUT'
  | 'OUT_OF_MEMORY'
  | 'NON_FINITE'
  | 'BAD_OUTPUT'
  | 'BUSY'
  | 'INTERNAL'
  // serving
  | 'MODEL_NOT_FOUND'
  | 'OVERLOADED'
  | 'UNAUTHORIZED'
  | 'REMOTE_ERROR'
  // HTTP requests the API will not take, and a server still starting
  | 'FORBIDDEN'
  | 'UNSUPPORTED_MEDIA_TYPE'
  | 'REQUEST_TOO_LARGE'
  | 'NOT_READY'
  // constrained decoding: the vocabulary cannot continue the output within the grammar
  | 'CONSTRAINT_FAILED'
  // wire and swarm
  | 'BAD_FRAME'
  | 'FRAME_CHECKSUM'
  | 'FRAME_TOO_LARGE'
  | 'BAD_MESSAGE'
  | 'MESSAGE_TOO_LARGE'
  | 'CONNECTION_LOST'
  | 'PEER_UNREACHABLE'
  | 'PUSH_FAILED'
  | 'NO_ROUTE'
  | 'BAD_RECORD'
  | 'SWARM_KEY'
  // credits
  | 'PAYMENT_REQUIRED'
  | 'PAYMENT_INVALID'
  | 'ACCOUNT_REFUSED'
  | 'LEDGER_INVALID'
  | 'DATA_DIR_IN_USE'
  // weights over the swarm
  | 'WEIGHTS_UNAVAILABLE'
  | 'BAD_PIECE'

export class GridError extends Error {
  readonly code: ErrorCode
  constructor (code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options)
    this.code = code
    this.name = 'GridError'
  }
}

/** A caller passed something the operation cannot accept; `param` names the offending field. */
export class InvalidArgumentError extends GridError {
  readonly param: string | undefined
  constructor (message: string, options?: { cause?: unknown, param?: string }) {
    super('INVALID_ARGUMENT', message, options)
    this.name = 'InvalidArgumentError'
    this.param = options?.param
  }
}

/** A configuration value (file, environment or flag) is malformed. */
export class ConfigError extends GridError {
  constructor (message: string, options?: { cause?: unknown }) {
    super('INVALID_CONFIG', message, options)
    this.name = 'ConfigError'
  }
}

export class FileNotFoundError extends GridError {
  readonly path: string
  constructor (path: string, options?: { cause?: unknown }) {
    super('FILE_NOT_FOUND', `file not found: ${path}`, options)
    this.name = 'FileNotFoundError'
    this.path = path
  }
}

/** A model file is truncated, has the wrong magic, or is otherwise malformed. */
export class BadModelFileError extends GridError {
  constructor (message: string, options?: { cause?: unknown }) {
    super('BAD_MODEL_FILE', message, options)
    this.name = 'BadModelFileError'
  }
}

export class UnsupportedTensorTypeError extends GridError {
  constructor (message: string) {
    super('UNSUPPORTED_TENSOR_TYPE', message)
    this.name = 'UnsupportedTensorTypeError'
  }
}

export class UnsupportedArchitectureError extends GridError {
  readonly architecture: string
  constructor (architecture: string, supported: readonly string[]) {
    super('UNSUPPORTED_ARCHITECTURE', `unsupported architecture "${architecture}" (supported: ${supported.join(', ')})`)
    this.name = 'UnsupportedArchitectureError'
    this.architecture = architecture
  }
}

export class UnsupportedTokenizerError extends GridError {
  constructor (message: string) {
    super('UNSUPPORTED_TOKENIZER', message)
    this.name = 'UnsupportedTokenizerError'
  }
}

export class MissingTensorError extends GridError {
  readonly tensor: string
  constructor (tensor: string, where: string) {
    super('MISSING_TENSOR', `tensor "${tensor}" is missing from ${where}`)
    this.name = 'MissingTensorError'
    this.tensor = tensor
  }
}

export class ShapeMismatchError extends GridError {
  constructor (message: string) {
    super('SHAPE_MISMATCH', message)
    this.name = 'ShapeMismatchError'
  }
}

/** More tokens than the model's context (or the session's max length) can hold. */
export class ContextOverflowError extends GridError {
  constructor (message: string) {
    super('CONTEXT_OVERFLOW', message)
    this.name = 'ContextOverflowError'
  }
}

/** Opening a session would exceed the executor's KV-cache memory budget (or the caller's share of it). */
export class CacheBudgetError extends GridError {
  /** when it is worth asking again, if the refuser knows */
  readonly retryAfterMs: number | undefined
  constructor (message: string, options?: { retryAfterMs?: number }) {
    super('CACHE_BUDGET_EXCEEDED', message)
    this.name = 'CacheBudgetError'
    this.retryAfterMs = options?.retryAfterMs
  }
}

/** A server is at one of its limits (sessions, streams, queued steps) for now; ask again later. */
export class BusyError extends GridError {
  readonly retryAfterMs: number
  constructor (message: string, retryAfterMs: number) {
    super('BUSY', message)
    this.name = 'BusyError'
    this.retryAfterMs = retryAfterMs
  }
}

/** A hidden state holds NaN or infinity: refused, never computed on or passed along. */
export class NonFiniteError extends GridError {
  constructor (message: string) {
    super('NON_FINITE', message)
    this.name = 'NonFiniteError'
  }
}

export class SessionError extends GridError {
  constructor (code: 'SESSION_CLOSED' | 'SESSION_EXISTS' | 'UNKNOWN_SESSION' | 'BAD_POSITIONS', message: string) {
    super(code, message)
    this.name = 'SessionError'
  }
}

/** A tensor frame is malformed, corrupt or over the size limit. */
export class FrameError extends GridError {
  constructor (code: 'BAD_FRAME' | 'FRAME_CHECKSUM' | 'FRAME_TOO_LARGE', message: string) {
    super(code, message)
    this.name = 'FrameError'
  }
}

/** A peer sent a message that breaks the wire protocol, or one over the size limit. */
export class ProtocolError extends GridError {
  constructor (code: 'BAD_MESSAGE' | 'MESSAGE_TOO_LARGE', message: string) {
    super(code, message)
    this.name = 'ProtocolError'
  }
}

/** A peer could not be reached, or the connection to it broke. */
export class NetworkError extends GridError {
  constructor (code: 'CONNECTION_LOST' | 'PEER_UNREACHABLE' | 'PUSH_FAILED' | 'TIMEOUT', message: string, options?: { cause?: unknown }) {
    super(code, message, options)
    this.name = 'NetworkError'
  }
}

/** A peer's output cannot be right (wrong shape, NaN or infinity, undecodable): its server is not to be trusted. */
export class BadOutputError extends GridError {
  readonly peer: string
  constructor (message: string, peer: string, options?: { cause?: unknown }) {
    super('BAD_OUTPUT', message, options)
    this.name = 'BadOutputError'
    this.peer = peer
  }
}

/** An error a remote peer replied with; `code` is the peer's, `peer` who sent it. */
export class RemoteError extends GridError {
  readonly peer: string
  /** the peer's hint for capacity errors (BUSY, CACHE_BUDGET_EXCEEDED) */
  readonly retryAfterMs: number | undefined
  constructor (code: ErrorCode, message: string, peer: string, retryAfterMs?: number) {
    super(code, `${message} (from ${peer.slice(-8)})`)
    this.name = 'RemoteError'
    this.peer = peer
    this.retryAfterMs = retryAfterMs
  }
}

/** Errors that mean "full for now", not "broken": the same request may succeed later or elsewhere. */
export function isCapacityError (err: unknown): boolean {
  const code = (err as { code?: unknown } | undefined)?.code
  return code === 'BUSY' || code === 'CACHE_BUDGET_EXCEEDED'
}

/** A retry hint in ms carried by an error, if any. */
export function retryAfterMs (err: unknown): number | undefined {
  const v = (err as { retryAfterMs?: unknown } | undefined)?.retryAfterMs
  return typeof v === 'number' && Number.isFinite(v) && v >= 0 ? v : undefined
}

/** No chain of servers covers the requested blocks. */
export class NoRouteError extends GridError {
  constructor (message: string) {
    super('NO_ROUTE', message)
    this.name = 'NoRouteError'
  }
}

/** A swarm announcement failed to parse, verify or is out of date. */
export class BadRecordError extends GridError {
  constructor (message: string) {
    super('BAD_RECORD', message)
    this.name = 'BadRecordError'
  }
}

/** No reachable peer has (or will send) some weights; or bytes a peer sent fail their hash. */
export class WeightsError extends GridError {
  constructor (code: 'WEIGHTS_UNAVAILABLE' | 'BAD_PIECE', message: string, options?: { cause?: unknown }) {
    super(code, message, options)
    this.name = 'WeightsError'
  }
}

/** The wrong model or a span the server does not serve. */
export class ServeError extends GridError {
  constructor (code: 'WRONG_MODEL' | 'SPAN_NOT_SERVED', message: string) {
    super(code, message)
    this.name = 'ServeError'
  }
}

/**
 * Credits: a session that must be paid for and is not (PAYMENT_REQUIRED), a commitment, preimage or
 * receipt that does not hold (PAYMENT_INVALID), an account honest peers refuse, e.g. one caught
 * double-spending (ACCOUNT_REFUSED), a ledger whose chain or signatures do not hold (LEDGER_INVALID).
 */
export class PaymentError extends GridError {
  constructor (code: 'PAYMENT_REQUIRED' | 'PAYMENT_INVALID' | 'ACCOUNT_REFUSED' | 'LEDGER_INVALID', message: string, options?: { cause?: unknown }) {
    super(code, message, options)
    this.name = 'PaymentError'
  }
}

/** Another running process holds this data directory (its key and ledger are one process's at a time). */
export class DataDirInUseError extends GridError {
  constructor (message: string) {
    super('DATA_DIR_IN_USE', message)
    this.name = 'DataDirInUseError'
  }
}

export class AbortError extends GridError {
  constructor (message = 'the operation was aborted', options?: { cause?: unknown }) {
    super('ABORTED', message, options)
    this.name = 'AbortError'
  }
}

/** A request named a model nobody serves. */
export class ModelNotFoundError extends GridError {
  readonly model: string
  constructor (model: string, available: readonly string[]) {
    super('MODEL_NOT_FOUND', `model "${model}" is not served here (available: ${available.length > 0 ? available.join(', ') : 'none'})`)
    this.name = 'ModelNotFoundError'
    this.model = model
  }
}

/** Too much work in flight and queued; try again after `retryAfterSeconds`. */
export class OverloadedError extends GridError {
  readonly retryAfterSeconds: number
  constructor (message: string, retryAfterSeconds: number) {
    super('OVERLOADED', message)
    this.name = 'OverloadedError'
    this.retryAfterSeconds = retryAfterSeconds
  }
}

export class UnauthorizedError extends GridError {
  constructor (message: string) {
    super('UNAUTHORIZED', message)
    this.name = 'UnauthorizedError'
  }
}

/** An HTTP request the API refuses as such: a Host it does not answer, a body that is not JSON or too large. */
export class RequestRefusedError extends GridError {
  constructor (code: 'FORBIDDEN' | 'UNSUPPORTED_MEDIA_TYPE' | 'REQUEST_TOO_LARGE', message: string) {
    super(code, message)
    this.name = 'RequestRefusedError'
  }
}

/** The server cannot generate yet (its model is loading, or a block of it has no server); `retryAfterSeconds` may tell when. */
export class NotReadyError extends GridError {
  constructor (message: string) {
    super('NOT_READY', message)
    this.name = 'NotReadyError'
  }
}

/** A server we called (an HTTP API) answered with an error. */
export class ApiResponseError extends GridError {
  readonly status: number
  constructor (status: number, message: string) {
    super('REMOTE_ERROR', `the server answered ${status}: ${message}`)
    this.name = 'ApiResponseError'
    this.status = status
  }
}

/** Throws an AbortError (carrying the signal's reason) if the signal has fired. */
export function throwIfAborted (signal?: AbortSignal): void {
  if (signal?.aborted === true) {
    const reason: unknown = signal.reason
    if (reason instanceof GridError) throw reason
    throw new AbortError(reason instanceof Error ? reason.message : 'the operation was aborted', { cause: reason })
  }
}

/** True for errors thrown because a signal fired, whichever library threw them. */
export function isAbortError (err: unknown): boolean {
  if (err instanceof GridError) return err.code === 'ABORTED'
  return err instanceof Error && (err.name === 'AbortError' || err.name === 'TimeoutError')
}

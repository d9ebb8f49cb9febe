/**
 * The one table from GridError codes to HTTP statuses and OpenAI error types. Every error the API
 * answers with goes through httpError(); routes only throw.
 */
import { type ErrorCode, GridError, InvalidArgumentError, OverloadedError, retryAfterMs } from '../util/errors.ts'
import { logger } from '../util/log.ts'

const log = logger('api:error')

export type ErrorStatus = 400 | 401 | 403 | 404 | 413 | 415 | 429 | 500 | 502 | 503 | 504

interface Mapping {
  readonly status: ErrorStatus
  /** OpenAI's `error.type` */
  readonly type: string
  /** OpenAI's `error.code` when it has a well-known one; otherwise our code in lower case */
  readonly code?: string
}

const server = { status: 500, type: 'server_error' } as const

export const ERROR_STATUS = {
  INVALID_ARGUMENT: { status: 400, type: 'invalid_request_error' },
  CONTEXT_OVERFLOW: { status: 400, type: 'invalid_request_error', code: 'context_length_exceeded' },
  UNAUTHORIZED: { status: 401, type: 'authentication_error', code: 'invalid_api_key' },
  MODEL_NOT_FOUND: { status: 404, type: 'invalid_request_error', code: 'model_not_found' },
  OVERLOADED: { status: 429, type: 'rate_limit_error' },
  FORBIDDEN: { status: 403, type: 'permission_error' },
  REQUEST_TOO_LARGE: { status: 413, type: 'invalid_request_error', code: 'request_too_large' },
  UNSUPPORTED_MEDIA_TYPE: { status: 415, type: 'invalid_request_error' },
  NOT_READY: { status: 503, type: 'server_error' },
  CONSTRAINT_FAILED: server,
  // the server's own trouble: its model files, configuration, or a bug
  INVALID_CONFIG: server,
  FILE_NOT_FOUND: server,
  BAD_MODEL_FILE: server,
  UNSUPPORTED_TENSOR_TYPE: server,
  UNSUPPORTED_ARCHITECTURE: server,
  UNSUPPORTED_TOKENIZER: server,
  MISSING_TENSOR: server,
  SHAPE_MISMATCH: server,
  BAD_POSITIONS: server,
  SESSION_CLOSED: server,
  SESSION_EXISTS: server,
  UNKNOWN_SESSION: server,
  INTERNAL: server,
  // the spans that run the model: out of room, gone, or not the expected weights
  CACHE_BUDGET_EXCEEDED: { status: 503, type: 'server_error' },
  BUSY: { status: 503, type: 'server_error' },
  NON_FINITE: { status: 502, type: 'server_error' },
  BAD_OUTPUT: { status: 502, type: 'server_error' },
  OUT_OF_MEMORY: { status: 503, type: 'server_error' },
  SPAN_NOT_SERVED: { status: 503, type: 'server_error' },
  WRONG_MODEL: { status: 502, type: 'server_error' },
  REMOTE_ERROR: { status: 502, type: 'server_error' },
  // the swarm behind the API: a peer sent garbage, went away, or no chain covers the model
  BAD_FRAME: { status: 502, type: 'server_error' },
  FRAME_CHECKSUM: { status: 502, type: 'server_error' },
  FRAME_TOO_LARGE: { status: 502, type: 'server_error' },
  BAD_MESSAGE: { status: 502, type: 'server_error' },
  MESSAGE_TOO_LARGE: { status: 502, type: 'server_error' },
  BAD_RECORD: { status: 502, type: 'server_error' },
  CONNECTION_LOST: { status: 503, type: 'server_error' },
  PEER_UNREACHABLE: { status: 503, type: 'server_error' },
  PUSH_FAILED: { status: 503, type: 'server_error' },
  NO_ROUTE: { status: 503, type: 'server_error' },
  WEIGHTS_UNAVAILABLE: { status: 503, type: 'server_error' },
  BAD_PIECE: { status: 502, type: 'server_error' },
  SWARM_KEY: server,
  // credits: the swarm refused this node's account or its payments
  PAYMENT_REQUIRED: { status: 503, type: 'server_error' },
  PAYMENT_INVALID: { status: 502, type: 'server_error' },
  ACCOUNT_REFUSED: { status: 503, type: 'server_error' },
  LEDGER_INVALID: server,
  DATA_DIR_IN_USE: server,
  // a client only sees an aborted generation when the server is shutting down
  ABORTED: { status: 503, type: 'server_error' },
  TIMEOUT: { status: 504, type: 'server_error' }
} as const satisfies Record<ErrorCode, Mapping>

export interface OpenAIErrorBody {
  error: { message: string, type: string, code: string, param: string | null }
}

export interface HttpError {
  readonly status: ErrorStatus
  readonly headers: Record<string, string>
  readonly body: OpenAIErrorBody
}

/** Any thrown value → status, headers and OpenAI's error object. Unexpected errors are logged. */
export function httpError (err: unknown): HttpError {
  if (!(err instanceof GridError)) {
    log('unexpected error: %O', err)
    return { status: 500, headers: {}, body: { error: { message: 'internal server error', type: 'server_error', code: 'internal', param: null } } }
  }
  const m: Mapping = ERROR_STATUS[err.code]
  const headers: Record<string, string> = {}
  if (err instanceof OverloadedError) headers['Retry-After'] = String(err.retryAfterSeconds)
  const hint = retryAfterMs(err)
  if (hint !== undefined) headers['Retry-After'] = String(Math.max(1, Math.ceil(hint / 1000)))
  const param = err instanceof InvalidArgumentError ? err.param ?? null : null
  return { status: m.status, headers, body: { error: { message: err.message, type: m.type, code: m.code ?? err.code.toLowerCase(), param } } }
}

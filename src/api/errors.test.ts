import assert from 'node:assert/strict'
import { test } from 'node:test'
import { BusyError, CacheBudgetError, ContextOverflowError, GridError, InvalidArgumentError, ModelNotFoundError, OverloadedError, RemoteError, UnauthorizedError } from '../util/errors.ts'
import { ERROR_STATUS, httpError } from './errors.ts'

test('every GridError code maps to an HTTP error status and an OpenAI type', () => {
  for (const [code, m] of Object.entries(ERROR_STATUS)) {
    assert.ok(m.status >= 400 && m.status < 600, code)
    assert.match(m.type, /_error$/, code)
  }
})

test('httpError: status, OpenAI body, Retry-After', () => {
  const cases: Array<[unknown, number, string, string]> = [
    [new InvalidArgumentError('bad', { param: 'top_p' }), 400, 'invalid_request_error', 'invalid_argument'],
    [new ContextOverflowError('long'), 400, 'invalid_request_error', 'context_length_exceeded'],
    [new UnauthorizedError('who'), 401, 'authentication_error', 'invalid_api_key'],
    [new ModelNotFoundError('x', ['y']), 404, 'invalid_request_error', 'model_not_found'],
    [new OverloadedError('busy', 3), 429, 'rate_limit_error', 'overloaded'],
    [new GridError('CACHE_BUDGET_EXCEEDED', 'full'), 503, 'server_error', 'cache_budget_exceeded'],
    [new TypeError('a bug'), 500, 'server_error', 'internal']
  ]
  for (const [err, status, type, code] of cases) {
    const e = httpError(err)
    assert.equal(e.status, status, String(err))
    assert.equal(e.body.error.type, type)
    assert.equal(e.body.error.code, code)
  }
  assert.equal(httpError(new InvalidArgumentError('bad', { param: 'top_p' })).body.error.param, 'top_p')
  assert.deepEqual(httpError(new OverloadedError('busy', 3)).headers, { 'Retry-After': '3' })
  assert.equal(httpError(new TypeError('secret detail')).body.error.message, 'internal server error', 'bugs do not leak their message')
})

test('a swarm that is full answers 503 with the servers\' retry hint', () => {
  const busy = httpError(new RemoteError('BUSY', 'full', '12D3KooWabcdefgh', 2500))
  assert.equal(busy.status, 503)
  assert.equal(busy.body.error.code, 'busy')
  assert.deepEqual(busy.headers, { 'Retry-After': '3' })
  assert.deepEqual(httpError(new BusyError('full', 400)).headers, { 'Retry-After': '1' })
  assert.deepEqual(httpError(new CacheBudgetError('no room', { retryAfterMs: 2000 })).headers, { 'Retry-After': '2' })
})

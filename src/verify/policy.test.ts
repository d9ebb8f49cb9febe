import assert from 'node:assert/strict'
import { test } from 'node:test'
import { DEFAULT_AUDIT_RATE, auditRateFor, evasionProbability } from './policy.ts'

test('the default audit rate catches an always-cheating server within 100 requests with >= 99% probability', () => {
  assert.ok(evasionProbability(DEFAULT_AUDIT_RATE, 100) <= 0.01)
  assert.ok(evasionProbability(DEFAULT_AUDIT_RATE - 0.002, 100) > 0.01, 'and is about the smallest that does')
  assert.ok(Math.abs(auditRateFor(0.99, 100) - 0.0450) < 1e-4)
  // the formula's worked examples (verification.md): p = 1% evades 100 requests with 0.37
  assert.ok(Math.abs(evasionProbability(0.01, 100) - 0.366) < 1e-3)
  assert.ok(Math.abs(evasionProbability(0.05, 1000, 0.1, 0.5) - 0.082) < 1e-3)
})

/**
 * How often to audit. An audit of a request re-runs one hop's steps on another server; a server that
 * cheats on a fraction f of its steps, audited at rate p per request with a chance q that one audit
 * catches it, evades n requests with probability P_evade(n) = (1 − p·f·q)^n. The default rate is
 * the smallest that catches an always-cheating server (f = q = 1) with probability ≥ 99% within 100
 * requests; servers on probation (fewer than PROBATION_AUDITS passed) are audited more.
 */
export type VerifyMode = 'off' | 'sample' | 'strict'

export const VERIFY_MODES: readonly VerifyMode[] = ['off', 'sample', 'strict']

/** P_evade(n) = (1 − p·f·q)^n */
export function evasionProbability (p: number, n: number, f = 1, q = 1): number {
  return (1 - p * f * q) ** n
}

/** The smallest per-request audit rate p with P_evade(n) ≤ 1 − confidence (f = q = 1). */
export function auditRateFor (confidence: number, requests: number): number {
  return 1 - (1 - confidence) ** (1 / requests)
}

/** ≥ 99% within 100 requests: p = 0.0450, rounded up */
export const DEFAULT_AUDIT_RATE = Math.ceil(auditRateFor(0.99, 100) * 1000) / 1000
/** newcomers: a quarter of their requests, until they passed this many audits */
export const PROBATION_RATE = 0.25
export const PROBATION_AUDITS = 10

export interface AuditPolicy {
  readonly rate: number
  readonly probationRate: number
  readonly probationAudits: number
}

export const DEFAULT_POLICY: AuditPolicy = { rate: DEFAULT_AUDIT_RATE, probationRate: PROBATION_RATE, probationAudits: PROBATION_AUDITS }

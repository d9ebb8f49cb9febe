import assert from 'node:assert/strict'
import { test } from 'node:test'
import { Admission } from './admission.ts'

const codeOf = (f: () => unknown): string | undefined => { try { f(); return undefined } catch (err) { return (err as { code?: string }).code } }

test('admission counts as it decides: a burst cannot overbook, releases give room back once', () => {
  const a = new Admission({ maxSessions: 5, maxSessionsPerPeer: 3, peerCacheShare: 0.5 }, () => 1000)
  const p1 = [a.admit('p', 100), a.admit('p', 100), a.admit('p', 100)]
  assert.equal(codeOf(() => a.admit('p', 1)), 'BUSY') // sessions per peer
  assert.equal(codeOf(() => a.admit('q', 600)), 'CACHE_BUDGET_EXCEEDED') // over its share of 500
  const q = [a.admit('q', 250), a.admit('q', 250)]
  assert.equal(codeOf(() => a.admit('r', 1)), 'BUSY') // sessions in all
  p1[0]!()
  p1[0]!()
  assert.equal(a.openSessions, 4)
  assert.deepEqual(a.usage('p'), { sessions: 2, bytes: 200 })
  a.admit('r', 1)
  for (const r of [...p1, ...q]) r()
  assert.deepEqual(a.usage('q'), { sessions: 0, bytes: 0 })
  assert.equal(a.openSessions, 1)
})

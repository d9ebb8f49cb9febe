import { test } from 'node:test'
import assert from 'node:assert/strict'
import { BadRecordError } from '../util/errors.ts'
import { MAX_RECORD_TTL_MS, type ServerRecord, decodeRecord, encodeRecord, selectNewest } from './record.ts'

const now = Date.now()
const record = (more: Partial<Record<keyof ServerRecord, unknown>> = {}): Uint8Array => encodeRecord({
  v: 1, peer: 'peer', name: '', model: 'm', modelName: 'stories', nLayers: 5, start: 0, end: 2, state: 'online', throughput: 10,
  freeCacheTokens: 100, version: '0.1.0', addrs: ['/ip4/127.0.0.1/tcp/1'], pings: {}, issuedAt: now, expiresAt: now + 120_000, ...more
} as ServerRecord)

test('a well-formed record decodes', () => {
  assert.equal(decodeRecord(record()).end, 2)
  const tab = decodeRecord(record({ platform: 'browser', sessions: 2, weights: { start: 0, end: 2, ends: false } }))
  assert.deepEqual([tab.platform, tab.sessions, tab.weights], ['browser', 2, { start: 0, end: 2, ends: false }])
  assert.equal(decodeRecord(record({ price: 10, earned: 1_500_000 })).earned, 1_500_000)
  assert.equal(decodeRecord(record()).earned, undefined, 'older records, and servers that do not charge, report none')
})

test('expired, future, over-long and malformed records are refused', () => {
  const bad: Array<Partial<Record<keyof ServerRecord, unknown>>> = [
    { expiresAt: now - 1 },
    { issuedAt: now + 3600_000, expiresAt: now + 3700_000 },
    { expiresAt: now + MAX_RECORD_TTL_MS + 1000 },
    { v: 2 }, { start: 2, end: 2 }, { end: 6 }, { state: 'busy' }, { throughput: -1 }, { freeCacheTokens: 1.5 },
    { peer: 7 }, { addrs: 'x' }, { pings: { a: 'slow' } },
    { platform: 'phone' }, { sessions: -1 }, { weights: { start: 0, end: 6, ends: true } }, { weights: { start: 3, end: 2, ends: false } }, { weights: 'all' },
    { earned: -1 }, { earned: 0.5 }, { earned: '100' }, { earned: 1e16 }
  ]
  for (const more of bad) assert.throws(() => decodeRecord(record(more)), BadRecordError, JSON.stringify(more))
  assert.throws(() => decodeRecord(new TextEncoder().encode('{')), BadRecordError)
  assert.throws(() => decodeRecord(new Uint8Array([0xff, 0xfe])), BadRecordError)
})

test('of several records the newest valid one wins', () => {
  assert.equal(selectNewest([record({ issuedAt: now - 5000 }), record(), record({ issuedAt: now - 1000 })]), 1)
  assert.equal(selectNewest([record({ issuedAt: now - 5000 }), record({ issuedAt: now + 1, expiresAt: now - 1 })]), 0)
})

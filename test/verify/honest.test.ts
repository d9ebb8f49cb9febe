/**
 * Honest servers never fail an audit: 10,000 audits of stories260K hops where the audited server and
 * its auditor differ in every way honest servers do (ref or wasm, 1 or 2 threads, token-by-token
 * or chunked decoding, f32 or f16 on the wire; and the same over Q8_0 weights), compared with the
 * calibrated tolerance. Not one may fail. (No network: what an audit compares is computed in process.)
 */
import { after, test } from 'node:test'
import assert from 'node:assert/strict'
import { join } from 'node:path'
import { quantizeModel } from '../../src/cli/quantize.ts'
import { openModel } from '../../src/model/index.ts'
import { STORIES, tempDir } from '../swarm/harness.ts'
import { Calibration } from './calibrate.ts'

const AUDITS = 10_000
const dir = tempDir()

after(() => { dir.remove() })

test(`${AUDITS * 0.8} audits of honest servers over f32 weights: none fails`, { timeout: 600_000 }, async () => {
  const c = await Calibration.create(await openModel(STORIES))
  try {
    const { worst, failures } = await c.audits(AUDITS * 0.8, 1)
    assert.equal(failures, 0, JSON.stringify(worst))
  } finally {
    await c.close()
  }
})

test(`${AUDITS * 0.2} more over Q8_0 weights: none fails`, { timeout: 600_000 }, async () => {
  const q8 = join(dir.path, 'stories-q8_0.gguf')
  await quantizeModel(STORIES, q8, 'q8_0')
  const c = await Calibration.create(await openModel(q8))
  try {
    const { worst, failures } = await c.audits(AUDITS * 0.2, 2)
    assert.equal(failures, 0, JSON.stringify(worst))
  } finally {
    await c.close()
  }
})

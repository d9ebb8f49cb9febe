/**
 * Honest servers never fail an audit: 10,000 audits of stories260K hops where the audited server and
 * its auditor differ in every way honest servers do (ref or wasm, 1 or 2 threads, token-by-token
 * or chunked decoding, f32 or f16 on the wire; and the same over Q8_0 weights), compared with the
 * calibrated tolerance. Not one may fail. (No network: what an audit compares is computed in process.)
 */
import { after, before, test } from 'node:test'
import assert from 'node:assert/strict'
import { join } from 'node:path'
import { quantizeModel } from '../../src/cli/quantize.ts'
import { type Backend, createBackend } from '../../src/kernels/index.ts'
import { LocalSpanExecutor, ModelEnds, Prng, loadWeights, openModel, type ModelSource } from '../../src/model/index.ts'
import { type FrameDType, decodeFrame, encodeFrame } from '../../src/tensor/index.ts'
import { distance, spanQuantized, tolerance } from '../../src/verify/index.ts'
import { STORIES, tempDir } from '../swarm/harness.ts'

const AUDITS = 10_000
const dir = tempDir()
const backends: Array<{ name: string, backend: Backend }> = []

before(async () => {
  backends.push({ name: 'ref', backend: await createBackend('ref') })
  backends.push({ name: 'wasm1', backend: await createBackend('wasm', { threads: 1 }) })
  backends.push({ name: 'wasm2', backend: await createBackend('wasm', { threads: 2 }) })
})

after(() => {
  for (const b of backends) b.backend.dispose()
  dir.remove()
})

/** A hop's outputs for `input` (rows, dim) over `steps` (row counts), as the wire would carry them. */
async function run (exec: LocalSpanExecutor, input: Float32Array, steps: number[], dim: number, dtype: FrameDType): Promise<Float32Array> {
  const total = input.length / dim
  const s = await exec.open(`h-${Math.random()}`, { maxLength: total })
  const out = new Float32Array(input.length)
  let at = 0
  for (const n of steps) {
    const x = decodeFrame(encodeFrame(input.subarray(at * dim, (at + n) * dim), [n, dim], { dtype })).data
    const y = await s.forward(x, Array.from({ length: n }, (_, i) => at + i))
    out.set(decodeFrame(encodeFrame(y, [n, dim], { dtype })).data, at * dim)
    at += n
  }
  await s.close()
  return out
}

async function honestAudits (source: ModelSource, audits: number, seed: number): Promise<{ worst: Record<string, number>, failures: number }> {
  const { dim, nLayers, vocabSize } = source.config
  const rng = new Prng(seed)
  const int = (lo: number, hi: number): number => lo + Math.floor(rng.next() * (hi - lo + 1))
  const ref = backends[0]!.backend
  const ends = new ModelEnds(source.config, ref, (await loadWeights(source, ref, { ends: true, start: 0, end: 0 })).ends!)
  const execs = new Map<string, LocalSpanExecutor>()
  const exec = async (b: number, start: number, end: number): Promise<LocalSpanExecutor> => {
    const key = `${b}:${start}:${end}`
    let e = execs.get(key)
    if (e === undefined) { e = await LocalSpanExecutor.load(source, backends[b]!.backend, { start, end, modelId: 'x' }); execs.set(key, e) }
    return e
  }
  const worst: Record<string, number> = {}
  let failures = 0
  const perSequence = 20
  for (let done = 0; done < audits; done += perSequence) {
    const start = int(0, nLayers - 1)
    const end = int(start + 1, nLayers)
    const prompt = int(1, 12)
    const decode = int(1, 24)
    const input = ends.embed(Array.from({ length: prompt + decode }, () => int(0, vocabSize - 1))) // (rows, dim)
    const dtype: FrameDType = rng.next() < 0.5 ? 'f32' : 'f16'
    const tol = tolerance({ dtype, quantized: spanQuantized(source, start, end) })
    const server = int(0, 2)
    const theirs = await run(await exec(server, start, end), input, [prompt, ...Array(decode).fill(1)], dim, dtype)
    for (let a = 0; a < perSequence && done + a < audits; a++) {
      const auditor = int(0, 2)
      const chunk = int(1, 8)
      const steps = [prompt]
      for (let left = decode; left > 0; left -= chunk) steps.push(Math.min(chunk, left))
      const mine = await run(await exec(auditor, start, end), input, steps, dim, dtype)
      const d = distance(theirs, mine, dim)
      const key = `${dtype} ${backends[server]!.name}/${backends[auditor]!.name}`
      worst[key] = Math.max(worst[key] ?? 0, d)
      if (!(d <= tol)) failures++
    }
  }
  for (const e of execs.values()) await e.close()
  ends.dispose()
  return { worst, failures }
}

test(`${AUDITS * 0.8} audits of honest servers over f32 weights: none fails`, { timeout: 600_000 }, async () => {
  const { worst, failures } = await honestAudits(await openModel(STORIES), AUDITS * 0.8, 1)
  assert.equal(failures, 0, JSON.stringify(worst))
})

test(`${AUDITS * 0.2} more over Q8_0 weights: none fails`, { timeout: 600_000 }, async () => {
  const q8 = join(dir.path, 'stories-q8_0.gguf')
  await quantizeModel(STORIES, q8, 'q8_0')
  const { worst, failures } = await honestAudits(await openModel(q8), AUDITS * 0.2, 2)
  assert.equal(failures, 0, JSON.stringify(worst))
})

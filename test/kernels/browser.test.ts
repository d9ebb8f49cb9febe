/**
 * The wasm kernels in a real browser (Debian's chromium): Chromium computes relaxed-SIMD dot
 * products as the standard says (Node 20's V8 does not), so the relaxed-dot build runs there. It
 * must give bit-for-bit the baseline build's results (both in Chromium, and Node's baseline run),
 * for every quantized format, decode and GEMM shapes, within the conformance bounds of ref.
 */
import assert from 'node:assert/strict'
import { existsSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { after, before, describe, it } from 'node:test'
import { RefBackend, createBackend } from '../../src/kernels/index.ts'
import { DTYPES, type DType, encode } from '../../src/tensor/index.ts'
import { CHROMIUM, bundleForBrowser, launchChromium, serveIsolated } from '../fixtures/browser.ts'
import { assertClose, random } from './backend.case.ts'
import type { BrowserCase, BrowserReply, BrowserRequest } from './browser-entry.ts'

const TYPES: DType[] = ['q8_0', 'q4_0', 'q5_0', 'q5_1', 'q4_k', 'q5_k', 'q6_k']
const SHAPES: Array<[number, number, number]> = [[1, 7, 1], [3, 33, 3], [5, 130, 1], [21, 40, 2]] // n, outDim, blocks per row

function cases (): BrowserCase[] {
  const out: BrowserCase[] = []
  for (const dtype of TYPES) {
    for (const [n, outDim, blocks] of SHAPES) {
      const inDim = DTYPES[dtype].blockSize * blocks
      const seed = n * 100 + outDim + blocks
      out.push({ dtype, outDim, inDim, n, w: Array.from(encode(dtype, random(outDim * inDim, seed, 1 / Math.sqrt(inDim)))), x: Array.from(random(n * inDim, seed + 1)) })
    }
  }
  return out
}

describe('wasm kernels in Chromium', { skip: existsSync(CHROMIUM) ? false : `no ${CHROMIUM} (apt-get install chromium)` }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'gridllm-browser-'))
  let server: Awaited<ReturnType<typeof serveIsolated>>
  let browser: Awaited<ReturnType<typeof launchChromium>>
  before(async () => {
    await bundleForBrowser(fileURLToPath(new URL('./browser-entry.ts', import.meta.url)), join(dir, 'entry.js'))
    const build = fileURLToPath(new URL('../../src/kernels/wasm/build/', import.meta.url))
    server = await serveIsolated('<!doctype html><meta charset="utf-8">', [['/entry.js', join(dir, 'entry.js')], ['/kernels.wasm', `${build}kernels.wasm`], ['/kernels-dot.wasm', `${build}kernels-dot.wasm`]])
    browser = await launchChromium()
  })
  after(async () => {
    await browser?.close()
    await server?.close()
    rmSync(dir, { recursive: true, force: true })
  })

  async function inBrowser (req: BrowserRequest): Promise<BrowserReply> {
    const page = await browser.newPage()
    try {
      await page.goto(server.origin + '/')
      return await page.evaluate(async r => await new Promise<BrowserReply>((resolve, reject) => {
        const w = new (globalThis as unknown as { Worker: new (u: string, o: object) => { onmessage: (e: { data: { reply?: BrowserReply, error?: string } }) => void, postMessage: (m: unknown) => void } }).Worker('/entry.js', { type: 'module' })
        w.onmessage = e => e.data.error === undefined ? resolve(e.data.reply!) : reject(new Error(e.data.error))
        w.postMessage(r)
      }), req)
    } finally {
      await page.close()
    }
  }

  it('the relaxed-dot build matches the baseline build bit for bit, and both match ref', async () => {
    const all = cases()
    const dot = await inBrowser({ build: 'dot', cases: all })
    const baseline = await inBrowser({ build: 'baseline', cases: all })
    assert.equal(dot.relaxedDot, true, 'Chromium computes relaxed dot products as the standard says')
    assert.equal(baseline.relaxedDot, false)
    const ref = new RefBackend()
    const node = await createBackend('wasm', { threads: 1, relaxedDot: false })
    try {
      all.forEach((c, i) => {
        const what = `${c.dtype} n=${c.n} ${c.outDim}x${c.inDim}`
        assert.deepEqual(dot.outs[i], baseline.outs[i], `${what}: relaxed dot = baseline`)
        const w = ref.fromBytes(c.dtype, [c.outDim, c.inDim], Uint8Array.from(c.w))
        const x = ref.zeros([c.n, c.inDim]); ref.write(x, Float32Array.from(c.x))
        const o = ref.zeros([c.n, c.outDim])
        ref.matmul(o, x, w, c.n)
        assertClose(Float32Array.from(dot.outs[i]!), ref.read(o), { maxAbs: 3e-2, nmse: 1e-4 }, what)
        const wn = node.fromBytes(c.dtype, [c.outDim, c.inDim], Uint8Array.from(c.w))
        const xn = node.zeros([c.n, c.inDim]); node.write(xn, Float32Array.from(c.x))
        const on = node.zeros([c.n, c.outDim])
        node.matmul(on, xn, wn, c.n)
        assert.deepEqual(Array.from(node.read(on)), baseline.outs[i], `${what}: Node = Chromium`)
        for (const t of [wn, xn, on]) node.free(t)
      })
    } finally {
      node.dispose()
    }
  })
})

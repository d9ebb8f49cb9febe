/**
 * The webgpu backend in a real browser: Debian's chromium with SwiftShader's software WebGPU adapter
 * (no GPU needed). It runs the conformance suite's op cases (test/kernels/op-cases.ts) and the same
 * cases run on `ref` here; every read must be within the case's bounds of ref's.
 */
import assert from 'node:assert/strict'
import { existsSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { after, before, describe, it } from 'node:test'
import { RefBackend } from '../../src/kernels/index.ts'
import type { DType } from '../../src/tensor/index.ts'
import { CHROMIUM, SOFTWARE_WEBGPU, bundleForBrowser, launchChromium, serveIsolated } from '../fixtures/browser.ts'
import { mismatch, opCases } from './op-cases.ts'
import type { WebGpuReply } from './webgpu-entry.ts'

describe('webgpu kernels in Chromium (software adapter)', { skip: existsSync(CHROMIUM) ? false : `no ${CHROMIUM} (apt-get install chromium)` }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'gridllm-webgpu-'))
  let server: Awaited<ReturnType<typeof serveIsolated>>
  let browser: Awaited<ReturnType<typeof launchChromium>>
  let reply: WebGpuReply
  before(async () => {
    await bundleForBrowser(fileURLToPath(new URL('./webgpu-entry.ts', import.meta.url)), join(dir, 'entry.js'))
    server = await serveIsolated('<!doctype html><meta charset="utf-8">', [['/entry.js', join(dir, 'entry.js')]])
    browser = await launchChromium(SOFTWARE_WEBGPU)
    const page = await browser.newPage()
    await page.goto(server.origin + '/')
    reply = await page.evaluate(async () => await (await import('/entry.js' as string) as { run: () => Promise<WebGpuReply> }).run())
  })
  after(async () => {
    await browser?.close()
    await server?.close()
    rmSync(dir, { recursive: true, force: true })
  })

  it('every op case, every weight type it takes, matches ref', () => {
    const ref = new RefBackend()
    const cases = opCases(reply.weightTypes as DType[])
    assert.deepEqual(reply.cases.map(c => c.name), cases.map(c => c.name))
    return (async () => {
      const failed: string[] = []
      for (const [i, c] of cases.entries()) {
        const got = reply.cases[i]!
        if (got.error !== undefined) { failed.push(`${c.name}: ${got.error}`); continue }
        const want = await c.run(ref)
        got.outs!.forEach((b64, j) => {
          const bytes = Buffer.from(b64, 'base64')
          const why = mismatch(new Float32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4), want[j]!, c.bounds)
          if (why !== undefined) failed.push(`${c.name} (read ${j}): ${why}`)
        })
      }
      assert.deepEqual(failed, [], `on ${reply.adapter}`)
      assert.ok(reply.weightTypes.includes('q8_0') && reply.weightTypes.includes('q4_0') && reply.weightTypes.includes('f16'))
    })()
  })

  it('refuses what ref refuses, reads only asynchronously, and frees what it allocates', () => {
    assert.deepEqual(reply.refusals, {
      wrongBytes: 'SHAPE_MISMATCH', badRows: 'SHAPE_MISMATCH', infiniteScale: 'BAD_MODEL_FILE', unsupported: 'INVALID_ARGUMENT', syncRead: 'INVALID_ARGUMENT', rmsnormOverrun: 'SHAPE_MISMATCH'
    })
    assert.equal(reply.leakedBytes, 0)
  })
})

/**
 * The browser side of webgpu.test.ts, bundled and imported by a page in Chromium: the webgpu
 * backend runs every op case and the refusals; outputs go back as base64 of their f32 bytes.
 */
import { createWebGpuBackend, navigatorGpu } from '../../src/kernels/webgpu/index.ts'
import { encode } from '../../src/tensor/index.ts'
import { opCases } from './op-cases.ts'

export interface WebGpuReply {
  adapter: string
  weightTypes: string[]
  /** per case: its reads, or why it failed (a thrown error or a WebGPU validation error) */
  cases: Array<{ name: string, outs?: string[], error?: string }>
  /** error codes of calls that must be refused */
  refusals: Record<string, string>
  leakedBytes: number
}

const base64 = (a: Float32Array): string => btoa(String.fromCharCode(...new Uint8Array(a.buffer, a.byteOffset, a.byteLength)))

async function refusal (f: () => unknown): Promise<string> {
  try { await f(); return 'not refused' } catch (err) { return (err as { code?: string }).code ?? (err as Error).name }
}

export async function run (): Promise<WebGpuReply> {
  const be = await createWebGpuBackend()
  const info = (await navigatorGpu()?.requestAdapter())?.info
  const before = be.allocatedBytes()
  const cases: WebGpuReply['cases'] = []
  for (const c of opCases(be.weightTypes)) {
    be.device.pushErrorScope('validation')
    try {
      const outs = (await c.run(be)).map(base64)
      const invalid = await be.device.popErrorScope()
      cases.push(invalid === null ? { name: c.name, outs } : { name: c.name, error: `WebGPU: ${invalid.message}` })
    } catch (err) {
      await be.device.popErrorScope()
      cases.push({ name: c.name, error: String((err as Error).stack ?? err) })
    }
  }
  const q8 = encode('q8_0', new Float32Array(64).fill(1))
  q8[34] = 0x00; q8[35] = 0x7c // the second block's f16 scale: +inf
  const refusals = {
    wrongBytes: await refusal(() => be.fromBytes('f32', [2, 3], new Uint8Array(20))),
    badRows: await refusal(() => be.fromBytes('q8_0', [2, 33], new Uint8Array(100))),
    infiniteScale: await refusal(() => be.fromBytes('q8_0', [2, 32], q8)),
    unsupported: await refusal(() => be.fromBytes('q6_k', [1, 256], new Uint8Array(210))),
    syncRead: await refusal(() => be.read(be.zeros([1]))),
    rmsnormOverrun: await refusal(() => be.rmsnorm(be.zeros([3, 64]), be.zeros([3, 64]), be.zeros([16]), 13, 1e-6))
  }
  const leakedBytes = be.allocatedBytes() - before - 4 - 2 * 3 * 64 * 4 - 16 * 4 // what the refusals left allocated
  be.dispose()
  return { adapter: `${info?.vendor ?? '?'} ${info?.architecture ?? '?'}`, weightTypes: [...be.weightTypes], cases, refusals, leakedBytes }
}

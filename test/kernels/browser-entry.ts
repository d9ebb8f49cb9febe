/**
 * The browser side of browser.test.ts, bundled and run as a module worker in Chromium: the wasm
 * backend on one kernels build (relaxed-dot or baseline), the products the test asks for.
 */
import { WasmBackend, relaxedDotWorks } from '../../src/kernels/wasm/backend.ts'
import type { DType } from '../../src/tensor/index.ts'

export interface BrowserCase { dtype: DType, outDim: number, inDim: number, n: number, w: number[], x: number[] }
export interface BrowserRequest { build: 'dot' | 'baseline', cases: BrowserCase[] }
export interface BrowserReply { relaxedDot: boolean, outs: number[][] }

async function run (req: BrowserRequest): Promise<BrowserReply> {
  const bytes = new Uint8Array(await (await fetch(req.build === 'dot' ? '/kernels-dot.wasm' : '/kernels.wasm')).arrayBuffer())
  const module = await WebAssembly.compile(bytes)
  const be = new WasmBackend({ module, memory: new WebAssembly.Memory({ initial: 2, maximum: 65536, shared: true }) })
  const outs = req.cases.map(c => {
    const w = be.fromBytes(c.dtype, [c.outDim, c.inDim], Uint8Array.from(c.w))
    const x = be.zeros([c.n, c.inDim])
    be.write(x, Float32Array.from(c.x))
    const o = be.zeros([c.n, c.outDim])
    be.matmul(o, x, w, c.n)
    const out = Array.from(be.read(o))
    for (const t of [w, x, o]) be.free(t)
    return out
  })
  return { relaxedDot: be.relaxedDot && relaxedDotWorks(module), outs }
}

const self = globalThis as unknown as { onmessage: ((e: { data: BrowserRequest }) => void) | null, postMessage: (m: unknown) => void }
self.onmessage = e => { run(e.data).then(reply => self.postMessage({ reply }), (err: Error) => self.postMessage({ error: String(err?.stack ?? err) })) }

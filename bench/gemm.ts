/**
 * Quantized products on the wasm backend for a few tokens at once: the prefill GEMM over unpacked
 * tiles against the decode kernels run once per token, alternating, on the same weights and
 * activations (random, 1 thread by default). This is where the backend's thresholds (GEMM_FROM)
 * come from: for each format, the fewest tokens at which the GEMM wins. One JSON line per case:
 *   {"bench":"gemm","type":"q8_0","out_dim":1536,"in_dim":512,"tokens":8,"gemm_us":…,"decode_us":…,
 *    "ratio":…,"gemm_gmac_s":…,"default":"decode"}
 * gemm_us / decode_us: microseconds per token (medians over --reps); ratio = decode_us / gemm_us
 * (above 1: the GEMM is faster); default: the path the backend takes for that many tokens.
 * Options: --types q8_0,q4_0,q5_0,q5_1,q4_k,q5_k,q6_k --tokens 1,2,4,8,12,16,32,64
 *   --shapes 1536x512,512x1536 (out x in) --threads 1 --reps 5
 */
import { parseArgs } from 'node:util'
import { defaultGemmFrom } from '../src/kernels/wasm/backend.ts'
import { createWasmBackend } from '../src/kernels/wasm/node.ts'
import { type DType, encode } from '../src/tensor/index.ts'
import { median } from './measure.ts'

const { values: opts } = parseArgs({
  options: {
    types: { type: 'string', default: 'q8_0,q4_0,q5_0,q5_1,q4_k,q5_k,q6_k' },
    tokens: { type: 'string', default: '1,2,4,8,12,16,32,64' },
    shapes: { type: 'string', default: '1536x512,512x1536' },
    threads: { type: 'string', default: '1' },
    reps: { type: 'string', default: '5' }
  }
})
const list = (s: string): string[] => s.split(',').map(x => x.trim()).filter(x => x !== '')
const threads = Number(opts.threads)
const reps = Number(opts.reps)
const be = await createWasmBackend({ threads })
let seed = 1
const random = (n: number): Float32Array => Float32Array.from({ length: n }, () => {
  seed = (seed * 1103515245 + 12345) >>> 0
  return seed / 2 ** 31 - 1
})

/** Microseconds per token of `calls` products of n tokens, the path forced by gemmFrom. */
function time (gemmFrom: number, run: () => void, n: number): number {
  be.gemmFrom = gemmFrom
  run() // warm: scratch sized, code tiered up
  const calls = Math.max(3, Math.ceil(256 / n))
  const t0 = performance.now()
  for (let i = 0; i < calls; i++) run()
  return (performance.now() - t0) * 1000 / (calls * n)
}

try {
  for (const type of list(opts.types) as DType[]) {
    for (const [outDim, inDim] of list(opts.shapes).map(s => s.split('x').map(Number) as [number, number])) {
      const w = be.fromBytes(type, [outDim, inDim], encode(type, random(outDim * inDim)))
      for (const n of list(opts.tokens).map(Number)) {
        const x = be.zeros([n, inDim])
        const out = be.zeros([n, outDim])
        be.write(x, random(n * inDim))
        const run = (): void => be.matmul(out, x, w, n)
        const gemm: number[] = []
        const decode: number[] = []
        for (let r = 0; r < reps; r++) {
          gemm.push(time(1, run, n))
          decode.push(time(Number.POSITIVE_INFINITY, run, n))
        }
        be.gemmFrom = undefined
        const g = median(gemm)
        const d = median(decode)
        console.log(JSON.stringify({
          bench: 'gemm', type, out_dim: outDim, in_dim: inDim, tokens: n, threads,
          gemm_us: +g.toFixed(1), decode_us: +d.toFixed(1), ratio: +(d / g).toFixed(2),
          gemm_gmac_s: +(outDim * inDim / g / 1e3).toFixed(2), default: n >= defaultGemmFrom(type) ? 'gemm' : 'decode'
        }))
        be.free(x)
        be.free(out)
      }
      be.free(w)
    }
  }
} finally {
  be.dispose()
}

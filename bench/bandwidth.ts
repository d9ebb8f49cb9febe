/**
 * The machine's memory read bandwidth as WebAssembly sees it, one thread: the kernels' readProbe
 * (SIMD loads, 64 bytes a step) over 512 MiB, best of a few passes. What decode at most reaches.
 */
import { readFile } from 'node:fs/promises'
import { KERNELS_WASM } from '../src/kernels/wasm/node.ts'

export async function readBandwidthGBs (bytes = 512 << 20, passes = 5): Promise<number> {
  const module = await WebAssembly.compile(await readFile(KERNELS_WASM))
  const memory = new WebAssembly.Memory({ initial: (bytes >> 16) + 2, maximum: (bytes >> 16) + 2, shared: true })
  const k = new WebAssembly.Instance(module, { env: { memory } }).exports as { readProbe: (p: number, len: number) => number }
  new Uint8Array(memory.buffer).fill(1, 65536, 65536 + bytes) // touch every page first
  for (let i = 0; i < 500; i++) k.readProbe(65536, 1 << 16) // tier up to optimized code
  const piece = 16 << 20 // calls of 16 MiB: each a fresh call, so it runs the optimized code
  let best = Infinity
  for (let i = 0; i < passes; i++) {
    const t = performance.now()
    for (let off = 0; off < bytes; off += piece) k.readProbe(65536 + off, piece)
    best = Math.min(best, performance.now() - t)
  }
  return bytes / (best / 1000) / 1e9
}

if (import.meta.url === `file://${process.argv[1]}`) process.stdout.write(JSON.stringify({ bench: 'bandwidth', threads: 1, read_gb_s: Math.round(await readBandwidthGBs() * 100) / 100 }) + '\n')

/**
 * Checks gridllm's reference quantizers and dequantizers against llama.cpp's own (libggml-base from
 * node-llama-cpp, called through the koffi FFI; both installed into bench/.cache on first use, not
 * project dependencies): every format, every input kind, 64 super-blocks each. One JSON line per
 * format: {"bench":"ggml-blocks","type":"q4_k","blocks":…,"blocks_differing":0,"values_differing":0}
 * With --write, also rewrites test/fixtures/ggml-blocks.json (the golden blocks the unit tests use).
 */
import { writeFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { DTYPES, type DType, decode, encode } from '../src/tensor/index.ts'
import { GGML_BLOCKS_FILE, GGML_NAMES, INPUT_KINDS, blockInput } from '../test/fixtures/ggml-blocks.ts'
import { ensureBenchPackage, llamaCppLibrary } from './llama-cpp.ts'

const koffi = createRequire(import.meta.url)(ensureBenchPackage('koffi@3.3.4')) as {
  load: (path: string) => { func: (sig: string) => (...args: unknown[]) => void }
}
const lib = koffi.load(llamaCppLibrary('libggml-base.so'))
const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex')
const golden: Record<string, string[]> = {}
for (const [dtype, name] of Object.entries(GGML_NAMES) as Array<[DType, string]>) {
  const quantize = lib.func(`void quantize_row_${name}_ref(const float *x, _Out_ uint8_t *y, int64_t k)`)
  const dequantize = lib.func(`void dequantize_row_${name}(const uint8_t *x, _Out_ float *y, int64_t k)`)
  let blocks = 0; let blocksDiffering = 0; let valuesDiffering = 0
  golden[dtype] = []
  for (let kind = 0; kind < INPUT_KINDS; kind++) {
    for (const [n, seed] of [[512, 100 + kind], [256 * 64, 17 + kind]] as const) {
      const x = blockInput(n, seed, kind)
      const mine = encode(dtype, x)
      const theirs = new Uint8Array(mine.length)
      quantize(x, theirs, n)
      if (n === 512) golden[dtype].push(hex(theirs))
      const size = DTYPES[dtype].blockBytes
      for (let o = 0; o < mine.length; o += size) {
        blocks++
        if (hex(mine.subarray(o, o + size)) !== hex(theirs.subarray(o, o + size))) blocksDiffering++
      }
      const a = decode(dtype, theirs, n)
      const b = new Float32Array(n)
      dequantize(theirs, b, n)
      for (let i = 0; i < n; i++) if (a[i] !== b[i]) valuesDiffering++
    }
  }
  process.stdout.write(JSON.stringify({ bench: 'ggml-blocks', type: dtype, blocks, blocks_differing: blocksDiffering, values_differing: valuesDiffering }) + '\n')
}
if (process.argv.includes('--write')) {
  writeFileSync(GGML_BLOCKS_FILE, JSON.stringify(golden, null, 1) + '\n')
  process.stderr.write(`wrote ${GGML_BLOCKS_FILE}\n`)
}

/**
 * The benchmarks' synthetic models in bench/.cache/models/: a shape's F32 file (random weights,
 * seed 1) and `gridllm quantize`'s file of it per type, made once and reused by every bench.
 */
import { existsSync, mkdirSync, renameSync } from 'node:fs'
import { quantizeModel } from '../src/cli/quantize.ts'
import type { QuantType } from '../src/model/gguf/recipe.ts'
import { type ModelShape, writeSyntheticGguf } from '../src/model/synthetic.ts'
import { BENCH_CACHE } from './llama-cpp.ts'

export const BENCH_MODELS = `${BENCH_CACHE}models/`

/** The file name of `shape` at `type` in BENCH_MODELS, written (and quantized) if missing. */
export async function ensureBenchModel (name: string, shape: ModelShape, type: 'f32' | QuantType, log: (msg: string) => void = () => {}): Promise<string> {
  const file = `${name}-${type}.gguf`
  if (existsSync(BENCH_MODELS + file)) return file
  mkdirSync(BENCH_MODELS, { recursive: true })
  const f32 = `${BENCH_MODELS}${name}-f32.gguf`
  // each file is written under a temporary name and renamed once whole, so a bench killed while
  // writing leaves no truncated model for the next run to take
  if (!existsSync(f32)) {
    log(`writing ${f32}`)
    writeSyntheticGguf(`${f32}.partial`, shape, { dtype: 'f32', seed: 1 })
    renameSync(`${f32}.partial`, f32)
  }
  if (type !== 'f32') {
    log(`quantizing ${file}`)
    await quantizeModel(f32, `${BENCH_MODELS}${file}.partial`, type)
    renameSync(`${BENCH_MODELS}${file}.partial`, BENCH_MODELS + file)
  }
  return file
}

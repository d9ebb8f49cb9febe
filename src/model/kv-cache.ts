import type { Backend, Tensor } from '../kernels/index.ts'
import { type ModelConfig, kvDim } from './config.ts'

/** One session's keys and values for the layers of a span; row p holds position p. */
export interface KvCache {
  readonly k: readonly Tensor[] // nLayersInSpan × (maxLength, kvDim)
  readonly v: readonly Tensor[] // nLayersInSpan × (maxLength, kvDim)
  readonly maxLength: number
}

/** Bytes of cache one token takes in a span of `nLayers` layers (f32 keys and values). */
export function cacheBytesPerToken (config: ModelConfig, nLayers: number): number {
  return 2 * nLayers * kvDim(config) * 4
}

export function allocKvCache (backend: Backend, config: ModelConfig, nLayers: number, maxLength: number): KvCache {
  const shape = [maxLength, kvDim(config)]
  return {
    k: Array.from({ length: nLayers }, () => backend.zeros(shape)),
    v: Array.from({ length: nLayers }, () => backend.zeros(shape)),
    maxLength
  }
}

export function freeKvCache (backend: Backend, cache: KvCache): void {
  for (const t of [...cache.k, ...cache.v]) backend.free(t)
}

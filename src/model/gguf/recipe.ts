/**
 * Which type each tensor gets when a model is quantized, following llama.cpp's llama-quantize
 * (src/llama-quant.cpp): "pure" types give every quantizable matrix the same type; the K-quant
 * mixes (Q4_K_M, Q5_K_M, Q6_K) give the output, attention-V and feed-forward-down matrices more
 * bits in some layers. A type whose blocks do not divide a matrix's rows falls back as llama.cpp's
 * does (Q4_K → Q5_0, Q5_K → Q5_1, Q6_K → Q8_0, Q2_K/Q3_K → Q4_0; then F16). Where llama.cpp has
 * no fallback (a legacy type on rows that are not a multiple of 32, which it refuses), the tensor
 * keeps its type.
 */
import { DTYPES, type DType } from '../../tensor/index.ts'

export const QUANT_TYPES = ['q8_0', 'q4_0', 'q5_0', 'q5_1', 'q2_k', 'q3_k', 'q4_k', 'q5_k', 'q6_k', 'q4_k_m', 'q5_k_m'] as const
export type QuantType = typeof QUANT_TYPES[number]

export interface Recipe {
  /** the type most matrices get */
  readonly base: DType
  /** llama.cpp's mix of more bits for some tensors (false: every matrix gets `base`, as --pure) */
  readonly mix: boolean
  /** llama.cpp's llama_ftype for general.file_type */
  readonly fileType: number
}

export const RECIPES: Readonly<Record<QuantType, Recipe>> = {
  q8_0: { base: 'q8_0', mix: false, fileType: 7 },
  q4_0: { base: 'q4_0', mix: false, fileType: 2 },
  q5_0: { base: 'q5_0', mix: false, fileType: 8 },
  q5_1: { base: 'q5_1', mix: false, fileType: 9 },
  q2_k: { base: 'q2_k', mix: false, fileType: 10 },
  q3_k: { base: 'q3_k', mix: false, fileType: 11 }, // labelled Q3_K_S
  q4_k: { base: 'q4_k', mix: false, fileType: 14 }, // labelled Q4_K_S
  q5_k: { base: 'q5_k', mix: false, fileType: 16 }, // labelled Q5_K_S
  q6_k: { base: 'q6_k', mix: true, fileType: 18 },
  q4_k_m: { base: 'q4_k', mix: true, fileType: 15 },
  q5_k_m: { base: 'q5_k', mix: true, fileType: 17 }
}

export interface TensorShape {
  readonly name: string
  readonly dtype: DType
  /** row-major: the last dimension is a row */
  readonly shape: readonly number[]
}

/** llama.cpp quantizes 2-D (and larger) tensors named *weight, except norms. */
export function quantizable (t: TensorShape): boolean {
  return t.shape.length >= 2 && t.name.endsWith('weight') && !t.name.includes('_norm.weight')
}

/** llama.cpp's use_more_bits: the first and last eighth of the layers, and every third between. */
function moreBits (layer: number, nLayers: number): boolean {
  const eighth = Math.floor(nLayers / 8)
  return layer < eighth || layer >= Math.floor(7 * nLayers / 8) || (layer - eighth) % 3 === 2
}

const FALLBACK: Partial<Record<DType, DType>> = { q4_k: 'q5_0', q5_k: 'q5_1', q6_k: 'q8_0', q2_k: 'q4_0', q3_k: 'q4_0' }

function fits (dtype: DType, rowLength: number): boolean {
  return rowLength % DTYPES[dtype].blockSize === 0
}

/** The type each tensor gets under `type` (tensors that are not quantized keep theirs). */
export function tensorTypes (tensors: readonly TensorShape[], type: QuantType, nLayers: number): Map<string, DType> {
  const { base, mix } = RECIPES[type]
  const tied = !tensors.some(t => t.name === 'output.weight')
  const out = new Map<string, DType>()
  for (const t of tensors) {
    if (!quantizable(t)) { out.set(t.name, t.dtype); continue }
    const cols = t.shape[t.shape.length - 1]!
    const layer = Number(/^blk\.(\d+)\./.exec(t.name)?.[1] ?? -1)
    let dtype: DType = base
    if (mix) {
      if (t.name === 'output.weight' || (tied && t.name === 'token_embd.weight')) {
        dtype = !fits(base, cols) ? 'q8_0' : base !== 'q8_0' ? 'q6_k' : base
      } else if (/attn_(v|qkv)\.weight$/.test(t.name)) {
        if ((type === 'q4_k_m' || type === 'q5_k_m') && moreBits(layer, nLayers)) dtype = 'q6_k'
      } else if (t.name.includes('ffn_down')) {
        if ((type === 'q4_k_m' || type === 'q5_k_m') && moreBits(layer, nLayers)) dtype = 'q6_k'
      }
    }
    if (!fits(dtype, cols)) {
      const fallback = FALLBACK[dtype]
      dtype = fallback === undefined ? t.dtype : fits(fallback, cols) ? fallback : 'f16'
    }
    out.set(t.name, dtype)
  }
  return out
}

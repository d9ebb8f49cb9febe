import type { RopeStyle } from '../kernels/index.ts'
import { BadModelFileError, ShapeMismatchError, UnsupportedArchitectureError } from '../util/errors.ts'

export const ARCHITECTURES = ['llama', 'qwen2', 'qwen3'] as const
export type Architecture = typeof ARCHITECTURES[number]

/** Everything the forward pass needs to know about a Llama-family model. */
export interface ModelConfig {
  readonly architecture: Architecture
  readonly dim: number
  readonly hiddenDim: number
  readonly nLayers: number
  readonly nHeads: number
  readonly nKvHeads: number
  readonly headDim: number
  readonly vocabSize: number
  /** the longest context the model was trained for (llama2.c's seq_len) */
  readonly contextLength: number
  readonly normEps: number
  readonly ropeTheta: number
  readonly ropeDim: number
  readonly ropeStyle: RopeStyle
  /** the LM head reuses the token embedding */
  readonly tiedEmbeddings: boolean
  /** Q, K and V projections have biases (qwen2) */
  readonly qkvBias: boolean
  /** each head's queries and keys are RMS-normed before RoPE (qwen3); absent: no */
  readonly qkNorm?: true
  /**
   * per rotated pair, the factor its RoPE frequency is divided by (Llama 3.x long-context scaling,
   * GGUF's rope_freqs.weight; linear scaling: all equal); ropeDim / 2 values, absent: none
   */
  readonly ropeFreqFactors?: readonly number[]
}

export function kvDim (c: ModelConfig): number {
  return c.nKvHeads * c.headDim
}

export function asArchitecture (name: string): Architecture {
  if ((ARCHITECTURES as readonly string[]).includes(name)) return name as Architecture
  throw new UnsupportedArchitectureError(name, ARCHITECTURES)
}

/** Checks a config for values the forward pass cannot run; returns it for chaining. */
export function validateConfig (c: ModelConfig, where: string): ModelConfig {
  const positive = ['dim', 'hiddenDim', 'nLayers', 'nHeads', 'nKvHeads', 'headDim', 'vocabSize', 'contextLength'] as const
  for (const key of positive) {
    if (!Number.isInteger(c[key]) || c[key] <= 0) throw new BadModelFileError(`${where}: ${key} must be a positive integer, got ${c[key]}`)
  }
  if (c.nHeads % c.nKvHeads !== 0) throw new BadModelFileError(`${where}: ${c.nHeads} heads cannot be grouped over ${c.nKvHeads} kv heads`)
  if (c.ropeDim % 2 !== 0 || c.ropeDim > c.headDim) throw new BadModelFileError(`${where}: rope dimension ${c.ropeDim} must be even and at most the head size ${c.headDim}`)
  if (!(c.normEps > 0) || !(c.ropeTheta > 0)) throw new BadModelFileError(`${where}: norm epsilon and rope theta must be positive`)
  const f = c.ropeFreqFactors
  if (f !== undefined && (f.length !== c.ropeDim / 2 || f.some(v => !(v > 0) || !Number.isFinite(v)))) {
    throw new BadModelFileError(`${where}: RoPE frequency factors must be ${c.ropeDim / 2} positive numbers, got ${f.length}`)
  }
  return c
}

/**
 * Llama 3.x RoPE scaling ("rope_type": "llama3"): per pair of a head of ropeDim, the factor its
 * frequency θ^(-2i/ropeDim) is divided by (what llama.cpp's converter writes as rope_freqs.weight).
 */
export function llama3RopeFactors (ropeDim: number, theta: number, s: { factor: number, lowFreqFactor: number, highFreqFactor: number, originalContext: number }): number[] {
  const lowWavelen = s.originalContext / s.lowFreqFactor
  const highWavelen = s.originalContext / s.highFreqFactor
  const out: number[] = []
  for (let i = 0; i < ropeDim; i += 2) {
    const wavelen = 2 * Math.PI * theta ** (i / ropeDim)
    if (wavelen < highWavelen) out.push(1)
    else if (wavelen > lowWavelen) out.push(s.factor)
    else {
      const smooth = (s.originalContext / wavelen - s.lowFreqFactor) / (s.highFreqFactor - s.lowFreqFactor)
      out.push(1 / ((1 - smooth) / s.factor + smooth))
    }
  }
  return out.map(Math.fround)
}

/** Canonical tensor names (GGUF's). Every loader maps its own names onto these. */
export const TensorNames = {
  embedding: 'token_embd.weight',
  outputNorm: 'output_norm.weight',
  output: 'output.weight',
  layer: (l: number, part: LayerPart): string => `blk.${l}.${part}`
}

export type LayerPart =
  | 'attn_norm.weight' | 'attn_q.weight' | 'attn_k.weight' | 'attn_v.weight' | 'attn_output.weight'
  | 'attn_q.bias' | 'attn_k.bias' | 'attn_v.bias'
  | 'attn_q_norm.weight' | 'attn_k_norm.weight'
  | 'ffn_norm.weight' | 'ffn_gate.weight' | 'ffn_up.weight' | 'ffn_down.weight'

/** The parts of one transformer block, in the order they are used. */
export function layerParts (c: ModelConfig): LayerPart[] {
  const parts: LayerPart[] = ['attn_norm.weight', 'attn_q.weight', 'attn_k.weight', 'attn_v.weight']
  if (c.qkvBias) parts.push('attn_q.bias', 'attn_k.bias', 'attn_v.bias')
  if (c.qkNorm === true) parts.push('attn_q_norm.weight', 'attn_k_norm.weight')
  parts.push('attn_output.weight', 'ffn_norm.weight', 'ffn_gate.weight', 'ffn_up.weight', 'ffn_down.weight')
  return parts
}

/** The shape (outDim, inDim) or (dim) every canonical tensor must have. */
export function expectedShape (c: ModelConfig, name: string): number[] {
  const q = c.nHeads * c.headDim
  const kv = kvDim(c)
  switch (name) {
    case TensorNames.embedding: case TensorNames.output: return [c.vocabSize, c.dim]
    case TensorNames.outputNorm: return [c.dim]
  }
  const part = name.replace(/^blk\.\d+\./, '')
  switch (part) {
    case 'attn_norm.weight': case 'ffn_norm.weight': return [c.dim]
    case 'attn_q.weight': return [q, c.dim]
    case 'attn_k.weight': case 'attn_v.weight': return [kv, c.dim]
    case 'attn_q_norm.weight': case 'attn_k_norm.weight': return [c.headDim]
    case 'attn_q.bias': return [q]
    case 'attn_k.bias': case 'attn_v.bias': return [kv]
    case 'attn_output.weight': return [c.dim, q]
    case 'ffn_gate.weight': case 'ffn_up.weight': return [c.hiddenDim, c.dim]
    case 'ffn_down.weight': return [c.dim, c.hiddenDim]
  }
  throw new ShapeMismatchError(`no expected shape for tensor "${name}"`)
}

export function checkShape (c: ModelConfig, name: string, shape: readonly number[], where: string): void {
  const want = expectedShape(c, name)
  if (want.length !== shape.length || want.some((d, i) => d !== shape[i])) {
    throw new ShapeMismatchError(`${where}: tensor "${name}" has shape [${shape.join(', ')}], expected [${want.join(', ')}]`)
  }
}

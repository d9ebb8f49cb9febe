import { test } from 'node:test'
import assert from 'node:assert/strict'
import { type TensorShape, tensorTypes } from './recipe.ts'

/** The tensors of a Llama shape, as a GGUF file lists them. */
function llamaTensors (dim: number, hidden: number, kv: number, nLayers: number, vocab: number, tied: boolean): TensorShape[] {
  const out: TensorShape[] = [{ name: 'token_embd.weight', dtype: 'f32', shape: [vocab, dim] }, { name: 'output_norm.weight', dtype: 'f32', shape: [dim] }]
  if (!tied) out.push({ name: 'output.weight', dtype: 'f32', shape: [vocab, dim] })
  for (let l = 0; l < nLayers; l++) {
    const t = (part: string, shape: number[]): TensorShape => ({ name: `blk.${l}.${part}`, dtype: 'f32', shape })
    out.push(t('attn_norm.weight', [dim]), t('attn_q.weight', [dim, dim]), t('attn_k.weight', [kv, dim]), t('attn_v.weight', [kv, dim]),
      t('attn_output.weight', [dim, dim]), t('ffn_norm.weight', [dim]), t('ffn_gate.weight', [hidden, dim]), t('ffn_up.weight', [hidden, dim]),
      t('ffn_down.weight', [dim, hidden]), t('attn_q.bias', [dim]))
  }
  return out
}

// llama.cpp's use_more_bits for 30 layers: the first 3, the last 4, and 5, 8, ..., 23
const MORE_BITS_30 = [0, 1, 2, 5, 8, 11, 14, 17, 20, 23, 26, 27, 28, 29]

test('Q4_K_M on the SmolLM2-135M shape: llama.cpp\'s mix and its fallbacks for rows of 576', () => {
  const types = tensorTypes(llamaTensors(576, 1536, 192, 30, 49152, true), 'q4_k_m', 30)
  assert.equal(types.get('token_embd.weight'), 'q8_0') // tied: the output's rule; 576 % 256 ≠ 0 → Q8_0
  assert.equal(types.get('output_norm.weight'), 'f32')
  for (let l = 0; l < 30; l++) {
    const more = MORE_BITS_30.includes(l)
    assert.equal(types.get(`blk.${l}.attn_q.weight`), 'q5_0', `layer ${l}`) // Q4_K falls back to Q5_0
    assert.equal(types.get(`blk.${l}.attn_v.weight`), more ? 'q8_0' : 'q5_0', `layer ${l}`) // Q6_K → Q8_0
    assert.equal(types.get(`blk.${l}.ffn_down.weight`), more ? 'q6_k' : 'q4_k', `layer ${l}`) // rows of 1536 take K-quants
    assert.equal(types.get(`blk.${l}.attn_q.bias`), 'f32')
  }
})

test('Q4_K_M, Q5_K_M and Q6_K where every row fits 256-blocks; pure types', () => {
  const tensors = llamaTensors(512, 1536, 256, 16, 1000, false)
  const m4 = tensorTypes(tensors, 'q4_k_m', 16)
  const m5 = tensorTypes(tensors, 'q5_k_m', 16)
  const k6 = tensorTypes(tensors, 'q6_k', 16)
  const pure = tensorTypes(tensors, 'q4_k', 16)
  assert.equal(m4.get('output.weight'), 'q6_k')
  assert.equal(m4.get('token_embd.weight'), 'q4_k') // untied: the base type
  assert.equal(m5.get('token_embd.weight'), 'q5_k')
  for (let l = 0; l < 16; l++) {
    const more = l < 2 || l >= 14 || (l - 2) % 3 === 2
    assert.equal(m4.get(`blk.${l}.attn_v.weight`), more ? 'q6_k' : 'q4_k')
    assert.equal(m5.get(`blk.${l}.ffn_down.weight`), more ? 'q6_k' : 'q5_k')
    assert.equal(m4.get(`blk.${l}.attn_output.weight`), 'q4_k')
    assert.equal(k6.get(`blk.${l}.ffn_gate.weight`), 'q6_k')
    assert.equal(pure.get(`blk.${l}.attn_v.weight`), 'q4_k')
  }
  assert.equal(k6.get('output.weight'), 'q6_k')
  assert.equal(pure.get('output.weight'), 'q4_k')
  assert.equal(tensorTypes(tensors, 'q8_0', 16).get('output.weight'), 'q8_0')
})

test('rows no block divides: K-quants fall back to F16 past their fallback, legacy types keep the type', () => {
  const odd: TensorShape[] = [{ name: 'blk.0.ffn_down.weight', dtype: 'f32', shape: [64, 172] }]
  assert.equal(tensorTypes(odd, 'q4_k_m', 1).get('blk.0.ffn_down.weight'), 'f16')
  assert.equal(tensorTypes(odd, 'q8_0', 1).get('blk.0.ffn_down.weight'), 'f32')
})

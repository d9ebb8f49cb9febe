/**
 * Decode speed with a JSON schema (constrained decoding) against the same model unconstrained, on
 * a random-weight model of SmolLM2-135M's shape (49,152-token vocabulary). Rounds alternate
 * between the two so load from elsewhere hits both alike; the first constrained run (every mask
 * computed, none cached) is reported on its own as `cold`. One JSON line:
 *   {"bench":"constrained","model":"135M-q8_0","tok_s":…,"unconstrained_tok_s":…,"ratio":…,…}
 * Options: --shape 135M|15M --type q8_0 --threads 2 --rounds 3 --tokens 128 --temperature 0.8
 */
import { existsSync, mkdirSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { Model, compileSchema } from '../src/model/index.ts'
import type { GenerateOptions } from '../src/model/index.ts'
import { SHAPE_135M, SHAPE_15M, writeSyntheticGguf } from '../src/model/synthetic.ts'
import type { DType } from '../src/tensor/index.ts'
import { best } from './measure.ts'

const { values: opts } = parseArgs({
  options: {
    shape: { type: 'string', default: '135M' },
    type: { type: 'string', default: 'q8_0' },
    threads: { type: 'string', default: '2' },
    rounds: { type: 'string', default: '3' },
    tokens: { type: 'string', default: '128' },
    temperature: { type: 'string', default: '0.8' }
  }
})
const shapes = { '15M': SHAPE_15M, '135M': SHAPE_135M }
const shape = opts.shape as keyof typeof shapes
const cache = fileURLToPath(new URL('./.cache/models/', import.meta.url))
const path = `${cache}${shape}-${opts.type}.gguf`
if (!existsSync(path)) {
  process.stderr.write(`[bench] writing ${path}\n`)
  mkdirSync(cache, { recursive: true })
  writeSyntheticGguf(path, shapes[shape], { dtype: opts.type as DType, seed: 1 })
}

/**
 * A list of records with every kind of value; strings are bounded so that a random-weight model
 * goes through the structure (keys, numbers, enums, nesting) rather than one endless string.
 */
const SCHEMA = {
  type: 'array',
  items: {
    type: 'object',
    properties: {
      name: { type: 'string', maxLength: 12 },
      age: { type: 'integer', minimum: 0 },
      score: { type: 'number' },
      member: { type: 'boolean' },
      role: { enum: ['admin', 'user', 'guest'] },
      tags: { type: 'array', items: { type: 'string', maxLength: 8 }, maxItems: 3 },
      address: { type: 'object', properties: { city: { type: 'string', maxLength: 10 }, zip: { type: ['string', 'null'], maxLength: 5 } }, required: ['city', 'zip'] }
    },
    required: ['name', 'age', 'score', 'member', 'role', 'tags', 'address'],
    additionalProperties: false
  }
}

const tokens = Number(opts.tokens)
const model = await Model.load(path, { threads: Number(opts.threads) })
const grammar = compileSchema(SCHEMA)
const sampling: GenerateOptions = { temperature: Number(opts.temperature), topK: 40, topP: 0.95, minP: 0.05, repeatPenalty: 1, seed: 7, maxTokens: tokens }

/** Decode tokens per second from the first token to the last, and the text. */
async function rate (constrained: boolean): Promise<{ tokS: number, n: number, text: string }> {
  let first = 0
  let n = 0
  let text = ''
  for await (const t of model.generate('Describe the user as JSON:', { ...sampling, grammar: constrained ? grammar : undefined })) {
    n++
    text += t.text
    if (first === 0) first = performance.now()
  }
  return { tokS: (n - 1) / ((performance.now() - first) / 1000), n, text }
}

await rate(false) // warm-up: JIT, the backend's first allocations
const cold = await rate(true)
process.stderr.write(`[bench] cold constrained: ${cold.tokS.toFixed(2)} tok/s, ${cold.n} tokens: ${cold.text.slice(0, 160)}\n`)
const runs = { constrained: [] as number[], unconstrained: [] as number[] }
let valid = true
for (let r = 0; r < Number(opts.rounds); r++) {
  for (const kind of r % 2 === 0 ? ['unconstrained', 'constrained'] as const : ['constrained', 'unconstrained'] as const) {
    const { tokS, n, text } = await rate(kind === 'constrained')
    if (kind === 'constrained') valid &&= n < tokens ? grammar.accepts(text.trim()) : true
    runs[kind].push(tokS)
    process.stderr.write(`[bench] round ${r + 1} ${kind}: ${tokS.toFixed(2)} tok/s (${n} tokens)${kind === 'constrained' ? ` ${text.slice(0, 100)}` : ''}\n`)
  }
}
const round = (x: number): number => Math.round(x * 100) / 100
const tokS = best(runs.constrained)
const base = best(runs.unconstrained)
process.stdout.write(JSON.stringify({
  bench: 'constrained', model: `${shape}-${opts.type}`, threads: Number(opts.threads), temperature: sampling.temperature, tokens,
  tok_s: round(tokS), unconstrained_tok_s: round(base), ratio: round(tokS / base), cold_tok_s: round(cold.tokS), cold_ratio: round(cold.tokS / base), valid
}) + '\n')
await model.close()

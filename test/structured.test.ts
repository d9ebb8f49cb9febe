/** Constrained decoding with the bundled stories260K: 1,000 random schemas, every output parses and validates (ajv). */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import Ajv from 'ajv'
import { DEFAULT_MODEL } from '../src/cli/command.ts'
import { Model, compileSchema } from '../src/model/index.ts'
import { SchemaGenerator } from './fixtures/random-schema.ts'

const SCHEMAS = 1000
/** tight on purpose: many outputs must be closed in time (the shortest value of a schema always fits: single-byte tokens) */
const MAX_TOKENS = 64

test(`${SCHEMAS} random schemas: every constrained output parses and validates`, async () => {
  const model = await Model.load(DEFAULT_MODEL)
  const ajv = new Ajv({ strict: false })
  const schemas = new SchemaGenerator(2024)
  const failures: string[] = []
  let tokens = 0
  let nearBudget = 0
  const t0 = performance.now()
  for (let i = 0; i < SCHEMAS; i++) {
    const schema = schemas.schema()
    const grammar = compileSchema(schema)
    const maxTokens = Math.max(MAX_TOKENS, grammar.minBytes)
    const gen = model.generate('Once upon a time', { grammar, temperature: 1, topK: 0, topP: 1, minP: 0, seed: i, maxTokens })
    let text = ''
    for await (const t of gen) text += t.text
    tokens += gen.completionTokens
    if (gen.completionTokens > maxTokens - 8) nearBudget++
    let valid = false
    try { valid = ajv.validate(schema, JSON.parse(text)) } catch {}
    if (!valid) failures.push(`${JSON.stringify(schema)}\n  → ${JSON.stringify(text)} (${ajv.errorsText()})`)
  }
  const seconds = (performance.now() - t0) / 1000
  console.log(`${SCHEMAS} schemas, ${tokens} tokens in ${seconds.toFixed(1)} s; ${nearBudget} closed within 8 tokens of max_tokens; ${failures.length} invalid`)
  assert.deepEqual(failures.slice(0, 5), [])
  await model.close()
})

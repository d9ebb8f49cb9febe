import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { DEFAULT_MODEL } from '../../cli/command.ts'
import { Model } from '../model.ts'
import { Prng, argmax } from '../sampler.ts'
import { tokenTable } from '../tokenizer/table.ts'
import { compileSchema, jsonObjectGrammar } from './index.ts'
import { walkMask } from './mask.ts'
import { DoneFrame, ValueFrame, stepState, type State } from './frames.ts'

const refused = (keyword: string) => (err: Error & { code?: string }) => err.code === 'INVALID_ARGUMENT' && err.message.includes(keyword)

describe('schemas', () => {
  test('unsupported keywords are refused with their name and place', () => {
    const cases: Array<[unknown, string]> = [
      [{ type: 'string', format: 'email' }, 'keyword format'],
      [{ type: 'object', properties: { a: { type: 'string', pattern: '^x' } } }, 'keyword pattern is not supported at /properties/a'],
      [{ allOf: [{ type: 'string' }] }, 'keyword allOf'],
      [{ type: 'number', maximum: 10 }, 'keyword maximum'],
      [{ type: 'integer', minimum: 5 }, 'keyword minimum'],
      [{ type: 'array', items: { type: 'string' }, uniqueItems: true }, 'keyword uniqueItems'],
      [{ oneOf: [{ type: 'integer' }, { type: 'number' }] }, 'oneOf whose branches may match'],
      [{ $ref: 'https://example.com/s.json' }, 'only local $ref'],
      [{ $ref: '#/$defs/missing' }, 'points nowhere'],
      [{ type: 'object', properties: {}, required: ['x'] }, 'not declared: x'],
      [{ type: 'object', properties: { a: { $ref: '#' } }, required: ['a'] }, 'no finite value'],
      [{ type: 'date' }, 'type must be one of'],
      [false, 'nothing matches']
    ]
    for (const [schema, message] of cases) assert.throws(() => compileSchema(schema, 'response_format'), refused(message), JSON.stringify(schema))
    assert.throws(() => compileSchema({ type: 'string', format: 'uri' }, 'format'), { param: 'format' })
  })

  test('strings: escapes, UTF-8, no raw control characters, no lone surrogates, length bounds', () => {
    const g = compileSchema({ type: 'string' })
    for (const ok of ['""', '"a\\"b\\\\c\\/\\n\\t\\u00e9"', '"é漢字😀"', '"\\uD7FF"']) assert.ok(g.accepts(ok), ok)
    for (const bad of ['"a', '"\n"', '"\\x"', '"\\uD800"', '"\\u12"', 'x', '"a"b']) assert.ok(!g.accepts(bad), bad)
    const bounded = compileSchema({ type: 'string', minLength: 2, maxLength: 3 })
    assert.deepEqual(['"a"', '"ab"', '"a\\n"', '"é漢"', '"abc"', '"abcd"'].map(s => bounded.accepts(s)), [false, true, true, true, true, false])
  })

  test('numbers and integers follow JSON; bounds that can be kept exactly are', () => {
    const n = compileSchema({ type: 'number' })
    for (const ok of ['0', '-0', '12', '-3.25', '1e5', '2.5E-3', '7e+10']) assert.ok(n.accepts(ok), ok)
    for (const bad of ['01', '+1', '.5', '1.', '1e', '--1', '1e999', '1234567890123456']) assert.ok(!n.accepts(bad), bad)
    const i = compileSchema({ type: 'integer' })
    assert.deepEqual(['5', '-5', '5.0', '5e2'].map(s => i.accepts(s)), [true, true, false, false])
    assert.deepEqual(['0', '3', '-1'].map(s => compileSchema({ type: 'integer', minimum: 0 }).accepts(s)), [true, true, false])
    const range = compileSchema({ type: 'integer', minimum: 3, exclusiveMaximum: 7 })
    assert.deepEqual(['2', '3', '6', '7', '30'].map(s => range.accepts(s)), [false, true, true, false, false])
    assert.ok(compileSchema({ type: 'integer', minimum: -9007199254740991, maximum: 9007199254740991 }).accepts('-42'))
  })

  test('objects: required in order, optional ones may be left out, closed or open maps', () => {
    const g = compileSchema({ type: 'object', properties: { a: { type: 'integer' }, b: { type: 'boolean' }, c: { type: 'null' } }, required: ['b'] })
    for (const ok of ['{"b":true}', '{"a":1,"b":false}', '{ "a" : 1 , "b":true,"c":null }', '{"b":true,"c":null}']) assert.ok(g.accepts(ok), ok)
    for (const bad of ['{}', '{"a":1}', '{"b":true,"a":1}', '{"b":true,}', '{"b":true,"d":1}', '{"b":1}']) assert.ok(!g.accepts(bad), bad)
    const map = compileSchema({ type: 'object', additionalProperties: { type: 'integer' } })
    assert.ok(map.accepts('{"x":1,"y z":2}') && !map.accepts('{"x":"1"}'))
    assert.ok(compileSchema({ type: 'object', additionalProperties: false }).accepts('{}'))
    assert.ok(!compileSchema({ type: 'object', additionalProperties: false }).accepts('{"a":1}'))
    const json = jsonObjectGrammar()
    assert.ok(json.accepts('{"a":[1,{"b":null}],"c":"d"}') && !json.accepts('[1]'))
  })

  test('arrays, enums, const, anyOf, nullable, oneOf with a discriminator, recursive $ref', () => {
    const arr = compileSchema({ type: 'array', items: { type: 'integer' }, minItems: 1, maxItems: 2 })
    assert.deepEqual(['[]', '[1]', '[1,2]', '[1,2,3]', '[1,]'].map(s => arr.accepts(s)), [false, true, true, false, false])
    const e = compileSchema({ enum: ['a', 1, null, [1, 2], { k: 'v' }] })
    assert.deepEqual(['"a"', '1', 'null', '[1,2]', '{"k":"v"}', '"b"', '12'].map(s => e.accepts(s)), [true, true, true, true, true, false, false])
    assert.ok(compileSchema({ const: 'x' }).accepts('"x"'))
    const any = compileSchema({ anyOf: [{ type: 'string' }, { type: 'integer' }] })
    assert.ok(any.accepts('"s"') && any.accepts('3') && !any.accepts('true'))
    assert.ok(compileSchema({ type: 'string', nullable: true }).accepts('null'))
    assert.ok(compileSchema({ type: ['integer', 'null'] }).accepts('null'))
    const tagged = compileSchema({
      oneOf: [
        { type: 'object', properties: { kind: { const: 'a' }, x: { type: 'integer' } }, required: ['kind', 'x'] },
        { type: 'object', properties: { kind: { const: 'b' }, x: { type: 'string' } }, required: ['kind', 'x'] }
      ]
    })
    assert.ok(tagged.accepts('{"kind":"a","x":1}') && tagged.accepts('{"kind":"b","x":"1"}') && !tagged.accepts('{"kind":"a","x":"1"}'))
    const tree = compileSchema({ $defs: { node: { type: 'object', properties: { kids: { type: 'array', items: { $ref: '#/$defs/node' } } } } }, $ref: '#/$defs/node' })
    assert.ok(tree.accepts('{"kids":[{"kids":[]},{}]}'))
  })
})

describe('token masks', () => {
  test('the trie walk allows exactly the tokens whose bytes continue the state', async () => {
    const model = await Model.load(DEFAULT_MODEL, { backend: 'ref' })
    const table = tokenTable(model.tokenizer)
    const g = compileSchema({ type: 'object', properties: { name: { type: 'string' }, n: { type: 'integer' } }, required: ['name'] })
    let state: State = new ValueFrame(g.root, new DoneFrame())
    for (const prefix of ['', '{', '{"na', '{"name":"ab', '{"name":"ab\\', '{"name":"x","n":1']) {
      let s: State | null = new ValueFrame(g.root, new DoneFrame())
      for (const b of new TextEncoder().encode(prefix)) s = stepState(s!, b)
      state = s!
      const walked = new Set(walkMask(table, state))
      for (let id = 0; id < table.vocabSize; id++) {
        let t: State | null = state
        for (const b of table.tokenBytes(id)) { t = stepState(t, b); if (t === null) break }
        assert.equal(walked.has(id), t !== null && table.tokenBytes(id).length > 0, `${JSON.stringify(prefix)} token ${id}`)
      }
    }
    await model.close()
  })

  test('random logits under a tight budget still give whole, valid values', async () => {
    const model = await Model.load(DEFAULT_MODEL, { backend: 'ref' })
    const tok = model.tokenizer
    const g = compileSchema({ type: 'object', properties: { a: { type: 'string' }, b: { type: 'array', items: { type: 'number' }, minItems: 2 } }, required: ['a', 'b'] })
    const rng = new Prng(3)
    for (const budget of [g.minBytes, g.minBytes + 3, 40]) {
      const c = g.constraint(tok, tok.eos)
      let text = ''
      for (let left = budget; left > 0 && !c.done; left--) {
        const id = c.select(Float32Array.from({ length: tok.vocabSize }, () => rng.next() * 5), left, argmax)
        if (tok.eos.has(id)) break
        c.accept(id)
        text += new TextDecoder().decode(tok.tokenBytes(id))
      }
      assert.ok(g.accepts(text), `budget ${budget}: ${text}`)
    }
    await model.close()
  })
})

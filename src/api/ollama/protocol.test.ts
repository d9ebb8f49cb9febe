import assert from 'node:assert/strict'
import { test } from 'node:test'
import { generateMessages, generateOptions, validateChat, validateGenerate } from './protocol.ts'

const bad = (param: string) => (err: Error & { code?: string, param?: string }) => err.code === 'INVALID_ARGUMENT' && err.param === param

test('validateChat: stream defaults to true; options are read; unsupported refused', () => {
  const req = validateChat({ model: 'm', messages: [{ role: 'user', content: 'hi' }], options: { temperature: 0, num_predict: 5, stop: ['x'], num_ctx: 4096 }, keep_alive: '5m' })
  assert.equal(req.stream, true)
  assert.deepEqual(req.messages, [{ role: 'user', content: 'hi' }])
  assert.equal(req.options.temperature, 0)
  assert.equal(req.options.num_predict, 5)
  assert.deepEqual(validateChat({ model: 'm', messages: [], format: 'json' }).format, { type: 'json_object' })
  assert.deepEqual(validateChat({ model: 'm', messages: [], format: { type: 'object' } }).format, { type: 'json_schema', schema: { type: 'object' }, param: 'format' })
  assert.throws(() => validateChat({ model: 'm', messages: [], format: 'yaml' }), bad('format'))
  assert.throws(() => validateChat({ model: 'm', messages: [], tools: [{}] }), bad('tools[0].type'))
  assert.equal(validateChat({ model: 'm', messages: [], logprobs: true, top_logprobs: 3 }).top_logprobs, 3)
  assert.equal(validateChat({ model: 'm', messages: [], top_logprobs: 3 }).top_logprobs, undefined)
  const withCalls = validateChat({ model: 'm', messages: [{ role: 'assistant', content: '', tool_calls: [{ function: { name: 'f', arguments: { a: 1 } } }] }] })
  assert.deepEqual(withCalls.messages[0]!.tool_calls, [{ function: { name: 'f', arguments: { a: 1 } } }])
  assert.throws(() => validateChat({ model: 'm', messages: [{ role: 'user', content: 'x', images: ['...'] }] }), bad('messages[0].images'))
  assert.throws(() => validateChat({ model: 'm', messages: [], options: { mirostat: 2 } }), bad('options.mirostat'))
  assert.throws(() => validateChat({ model: 'm', messages: [{ role: 'bot', content: 'x' }] }), bad('messages[0].role'))
})

test('validateGenerate: raw, system, refused template/suffix/context', () => {
  const req = validateGenerate({ model: 'm', prompt: 'p', system: 's', stream: false })
  assert.deepEqual([req.raw, req.stream, req.prompt, req.system], [false, false, 'p', 's'])
  assert.deepEqual(generateMessages(req), [{ role: 'system', content: 's' }, { role: 'user', content: 'p' }])
  for (const field of ['template', 'suffix']) assert.throws(() => validateGenerate({ model: 'm', prompt: 'p', [field]: 'x' }), bad(field))
  assert.throws(() => validateGenerate({ model: 'm', prompt: 'p', context: [1, 2] }), bad('context'))
})

test('generateOptions: Ollama defaults; num_predict < 0 means no limit; repeat_last_n -1 is everything', () => {
  const d = generateOptions({})
  assert.deepEqual([d.temperature, d.topK, d.topP, d.minP, d.repeatPenalty, d.repeatLastN, d.maxTokens], [0.8, 40, 0.9, 0, 1.1, 64, undefined])
  assert.equal(generateOptions({ num_predict: -1 }).maxTokens, undefined)
  assert.equal(generateOptions({ num_predict: 7 }).maxTokens, 7)
  assert.equal(generateOptions({ repeat_last_n: -1 }).repeatLastN, Number.MAX_SAFE_INTEGER)
  assert.deepEqual(generateOptions({ stop: ['a'] }, ['b']).stop, ['a', 'b'])
})

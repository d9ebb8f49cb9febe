import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { CHAT_UNSUPPORTED, COMPLETION_UNSUPPORTED, chatMessages, generateOptions, validateChatCompletion, validateCompletion } from './protocol.ts'

const messages = [{ role: 'user', content: 'hi' }]
const bad = (param: string) => (err: Error & { code?: string, param?: string }) => err.code === 'INVALID_ARGUMENT' && err.param === param

describe('validateChatCompletion', () => {
  test('keeps the supported fields, typed; null counts as absent', () => {
    const req = validateChatCompletion({
      model: 'm', messages, temperature: 0.5, top_p: 0.9, max_tokens: 12, stop: 'x', seed: 7, user: 'ignored', presence_penalty: 0, n: 1, logprobs: null
    })
    assert.deepEqual(req, {
      model: 'm', messages, temperature: 0.5, top_p: 0.9, max_tokens: 12, stop: ['x'], seed: 7, presence_penalty: 0, frequency_penalty: undefined,
      top_k: undefined, min_p: undefined, repetition_penalty: undefined, n: 1, top_logprobs: undefined, tools: [], tool_choice: undefined, response_format: undefined
    })
    const full = validateChatCompletion({
      model: 'm', messages, n: 3, logprobs: true, top_logprobs: 2, presence_penalty: 0.5, frequency_penalty: -1,
      tools: [{ type: 'function', function: { name: 'get_weather', parameters: { type: 'object', properties: { city: { type: 'string' } } } } }],
      tool_choice: { type: 'function', function: { name: 'get_weather' } }, response_format: { type: 'json_object' }, parallel_tool_calls: false
    })
    assert.deepEqual([full.n, full.top_logprobs, full.presence_penalty, full.frequency_penalty, full.tools[0]!.name, full.tool_choice, full.response_format],
      [3, 2, 0.5, -1, 'get_weather', { name: 'get_weather' }, { type: 'json_object' }])
    assert.equal(validateChatCompletion({ model: 'm', messages, logprobs: true }).top_logprobs, 0)
    assert.equal(validateChatCompletion({ model: 'm', messages, max_completion_tokens: 5 }).max_tokens, 5)
  })

  test('stream and stream_options', () => {
    const req = validateChatCompletion({ model: 'm', messages, stream: true, stream_options: { include_usage: true } })
    assert.equal(req.stream, true)
    assert.deepEqual(req.stream_options, { include_usage: true })
    assert.throws(() => validateChatCompletion({ model: 'm', messages, stream_options: { include_usage: true } }), bad('stream_options'))
  })

  test('every listed unsupported field is refused unless harmless', () => {
    const harmful: Record<string, unknown> = {
      best_of: 3, logit_bias: { 1: 5 }, functions: [{}], function_call: 'auto',
      audio: {}, modalities: ['audio'], prediction: {}, web_search_options: {}, reasoning_effort: 'low'
    }
    assert.deepEqual(Object.keys(harmful).sort(), Object.keys(CHAT_UNSUPPORTED).sort(), 'the test covers the whole list')
    for (const [field, value] of Object.entries(harmful)) {
      assert.throws(() => validateChatCompletion({ model: 'm', messages, [field]: value }), bad(field), field)
    }
    assert.doesNotThrow(() => validateChatCompletion({ model: 'm', messages, tools: [], response_format: { type: 'text' }, tool_choice: 'none', best_of: 1 }))
  })

  test('ranges, types and messages', () => {
    const cases: Array<[Record<string, unknown>, string]> = [
      [{ model: '' }, 'model'],
      [{ temperature: -0.1 }, 'temperature'],
      [{ top_p: 1.5 }, 'top_p'],
      [{ max_tokens: 2.5 }, 'max_tokens'],
      [{ max_tokens: 3, max_completion_tokens: 4 }, 'max_completion_tokens'],
      [{ stop: ['a', 'b', 'c', 'd', 'e'] }, 'stop'],
      [{ seed: 'x' }, 'seed'],
      [{ messages: 'hi' }, 'messages'],
      [{ messages: [{ role: 'user' }] }, 'messages[0].content'],
      [{ messages: [{ role: 'user', content: [{ type: 'image_url', image_url: {} }] }] }, 'messages[0].content[0].type'],
      [{ messages: [{ role: 'assistant', content: '', tool_calls: [{}] }] }, 'messages[0].tool_calls[0].function'],
      [{ messages: [{ role: 'assistant', tool_calls: [{ id: 'c', type: 'function', function: { name: 'f', arguments: '{x' } }] }] }, 'messages[0].tool_calls[0].function.arguments'],
      [{ messages: [{ role: 'tool', content: '1' }] }, 'messages[0].tool_call_id'],
      [{ n: 0 }, 'n'],
      [{ top_logprobs: 21, logprobs: true }, 'top_logprobs'],
      [{ presence_penalty: 2.5 }, 'presence_penalty'],
      [{ tool_choice: 'sometimes' }, 'tool_choice'],
      [{ response_format: { type: 'xml' } }, 'response_format.type']
    ]
    for (const [fields, param] of cases) {
      assert.throws(() => validateChatCompletion({ model: 'm', messages, ...fields }), bad(param), JSON.stringify(fields))
    }
    assert.throws(() => validateChatCompletion([]), { code: 'INVALID_ARGUMENT' })
  })

  test('assistant tool calls and tool replies map to the model layer', () => {
    const req = validateChatCompletion({
      model: 'm',
      messages: [
        { role: 'user', content: 'weather?' },
        { role: 'assistant', content: null, tool_calls: [{ id: 'call_1', type: 'function', function: { name: 'w', arguments: '{"city":"Oslo"}' } }] },
        { role: 'tool', tool_call_id: 'call_1', content: 'rain' }
      ]
    })
    assert.deepEqual(chatMessages(req.messages).slice(1), [
      { role: 'assistant', content: '', toolCalls: [{ id: 'call_1', name: 'w', arguments: { city: 'Oslo' } }] },
      { role: 'tool', content: 'rain', toolCallId: 'call_1' }
    ])
  })

  test('messages map to the model layer: developer is system, text parts join', () => {
    const req = validateChatCompletion({
      model: 'm',
      messages: [{ role: 'developer', content: 'be brief' }, { role: 'user', content: [{ type: 'text', text: 'a' }, { type: 'text', text: 'b' }] }]
    })
    assert.deepEqual(chatMessages(req.messages), [{ role: 'system', content: 'be brief' }, { role: 'user', content: 'ab' }])
  })
})

describe('validateCompletion', () => {
  test('a prompt is a string or token ids; a batch of one is one', () => {
    assert.equal(validateCompletion({ model: 'm', prompt: 'x' }).prompt, 'x')
    assert.deepEqual(validateCompletion({ model: 'm', prompt: [1, 2] }).prompt, [1, 2])
    assert.equal(validateCompletion({ model: 'm', prompt: ['x'] }).prompt, 'x')
    assert.deepEqual(validateCompletion({ model: 'm', prompt: [[3]] }).prompt, [3])
    assert.throws(() => validateCompletion({ model: 'm', prompt: ['x', 'y'] }), bad('prompt'))
    assert.throws(() => validateCompletion({ model: 'm', prompt: [1.5] }), bad('prompt'))
    assert.throws(() => validateCompletion({ model: 'm' }), bad('prompt'))
  })

  test('echo and suffix are refused unless harmless', () => {
    assert.ok('echo' in COMPLETION_UNSUPPORTED && 'suffix' in COMPLETION_UNSUPPORTED)
    assert.throws(() => validateCompletion({ model: 'm', prompt: 'x', echo: true }), bad('echo'))
    assert.throws(() => validateCompletion({ model: 'm', prompt: 'x', suffix: 'end' }), bad('suffix'))
    assert.doesNotThrow(() => validateCompletion({ model: 'm', prompt: 'x', echo: false, suffix: '' }))
  })
})

test('generateOptions: OpenAI defaults, extra stops appended', () => {
  assert.deepEqual(generateOptions({ model: 'm' }), {
    temperature: 1, topP: 1, topK: 0, minP: 0, repeatPenalty: 1, presencePenalty: 0, frequencyPenalty: 0, seed: undefined, maxTokens: undefined, stop: undefined
  })
  const o = generateOptions({ model: 'm', temperature: 0, stop: ['x'], top_k: 5, max_tokens: 3 }, ['\nuser:'])
  assert.deepEqual([o.temperature, o.topK, o.maxTokens, o.stop], [0, 5, 3, ['x', '\nuser:']])
})

import assert from 'node:assert/strict'
import { test } from 'node:test'
import { ForcedCallStream, ToolCallStream, parseToolCalls, toolCallSchema } from './tools.ts'

const known = new Set(['get_weather', 'search'])
const weather = { name: 'get_weather', arguments: '{"city":"Oslo"}' }

test('tool calls are read in the Hermes/Qwen, Mistral and Llama 3 forms', () => {
  assert.deepEqual(parseToolCalls('Let me check.\n<tool_call>\n{"name": "get_weather", "arguments": {"city": "Oslo"}}\n</tool_call>', known),
    { content: 'Let me check.', calls: [weather] })
  assert.deepEqual(parseToolCalls('<tool_call>{"name":"get_weather","arguments":{"city":"Oslo"}}</tool_call><tool_call>{"name":"search","arguments":{}}</tool_call>', known).calls,
    [weather, { name: 'search', arguments: '{}' }])
  assert.deepEqual(parseToolCalls('[TOOL_CALLS] [{"name": "get_weather", "arguments": {"city": "Oslo"}}]', known).calls, [weather])
  assert.deepEqual(parseToolCalls('[TOOL_CALLS]get_weather[ARGS]{"city": "Oslo"}', known).calls, [weather])
  assert.deepEqual(parseToolCalls('<|python_tag|>{"name": "get_weather", "parameters": {"city": "Oslo"}}<|eom_id|>', known).calls, [weather])
  assert.deepEqual(parseToolCalls(' {"name": "get_weather", "parameters": {"city": "Oslo"}}', known), { content: '', calls: [weather] })
  // not calls: unknown names, prose, broken JSON
  for (const text of ['{"name": "rm_rf", "arguments": {}}', 'It is {"warm"} today', '<tool_call>{"name": "get_weather", "arguments": {</tool_call>']) {
    assert.deepEqual(parseToolCalls(text, known), { content: text, calls: [] }, text)
  }
})

test('streaming with tools offered: text flows, a call (even split across tokens) is held and parsed at the end', () => {
  const s = new ToolCallStream(known)
  const pieces = ['Sure', ', one', ' moment. <tool', '_call>{"name": "get_weather", ', '"arguments": {"city": "Oslo"}}</tool_call>']
  const shown = pieces.map(p => s.push(p))
  assert.deepEqual(shown, ['Sure', ', one', ' moment. ', '', ''])
  assert.deepEqual(s.finish(), { content: '', calls: [weather] })
  const plain = new ToolCallStream(known)
  assert.equal(plain.push('I think <tool') + plain.push('s are fun'), 'I think <tools are fun')
  assert.deepEqual(plain.finish(), { content: '', calls: [] })
  const json = new ToolCallStream(known)
  assert.equal(json.push(' {"answer"') + json.push(': 42}'), '', 'a reply opening with { may be a call: held')
  assert.deepEqual(json.finish(), { content: ' {"answer": 42}', calls: [] }, 'and released when it is not')
})

test('a forced call streams its name, then its arguments piece by piece', () => {
  const s = new ForcedCallStream()
  const out = ['{"name": "get', '_weather", "arguments": {"ci', 'ty": "Os', 'lo"}', '}'].map(p => s.push(p))
  assert.deepEqual(out, [{ args: '' }, { name: 'get_weather', args: '{"ci' }, { args: 'ty": "Os' }, { args: 'lo"' }, { args: '}' }])
  const end = s.finish(known)
  assert.equal(end.args, '', 'the last brace closes the call, not the arguments')
  assert.deepEqual(end.call, weather)
  assert.deepEqual(toolCallSchema([{ name: 'f' }]), {
    type: 'object', properties: { name: { const: 'f' }, arguments: { type: 'object', properties: {} } }, required: ['name', 'arguments'], additionalProperties: false
  })
})

/** The official `openai` client on what apps use beyond plain chat: logprobs, n, json_schema, tools, embeddings, responses. */
import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import Ajv from 'ajv'
import OpenAI from 'openai'
import type { Model } from '../../src/model/index.ts'
import { MODEL_NAME, type TestServer, loadModel, startServer } from './helpers.ts'

let model: Model
let srv: TestServer
let client: OpenAI

before(async () => {
  model = await loadModel()
  srv = await startServer(model)
  client = new OpenAI({ baseURL: `${srv.url}/v1`, apiKey: 'unused', maxRetries: 0 })
})
after(async () => {
  await srv.close()
  await model.close()
})

const messages: OpenAI.Chat.ChatCompletionMessageParam[] = [{ role: 'user', content: 'Tell me about a cat.' }]

const PERSON = {
  type: 'object',
  properties: {
    name: { type: 'string', maxLength: 20 },
    age: { type: 'integer', minimum: 0 },
    pets: { type: 'array', items: { type: 'string', maxLength: 10 }, maxItems: 3 },
    mood: { enum: ['happy', 'sad'] }
  },
  required: ['name', 'age', 'pets', 'mood'],
  additionalProperties: false
}

const WEATHER: OpenAI.Chat.ChatCompletionTool = {
  type: 'function',
  function: {
    name: 'get_weather',
    description: 'The weather in a city',
    parameters: { type: 'object', properties: { city: { type: 'string', maxLength: 16 }, unit: { enum: ['C', 'F'] } }, required: ['city', 'unit'], additionalProperties: false }
  }
}

describe('openai client: features', () => {
  test('logprobs: the sampled token is in its top list with the same value; the top list is sorted and sums below 1', async () => {
    for (const temperature of [0, 0.8]) {
      const res = await client.chat.completions.create({ model: MODEL_NAME, messages, max_tokens: 12, temperature, seed: 3, logprobs: true, top_logprobs: 5 })
      const content = res.choices[0]!.logprobs!.content!
      assert.equal(content.length, res.usage!.completion_tokens)
      assert.equal(content.map(t => t.token).join('').trimStart(), res.choices[0]!.message.content!.trimStart())
      for (const t of content) {
        assert.equal(t.top_logprobs.length, 5)
        assert.ok(t.logprob <= 0)
        const sorted = t.top_logprobs.map(x => x.logprob)
        assert.deepEqual(sorted, [...sorted].sort((a, b) => b - a))
        assert.ok(sorted.reduce((s, lp) => s + Math.exp(lp), 0) <= 1 + 1e-6)
        const same = t.top_logprobs.find(x => x.token === t.token && JSON.stringify(x.bytes) === JSON.stringify(t.bytes))
        if (temperature === 0) assert.equal(t.top_logprobs[0]!.logprob, t.logprob, 'greedy takes the most likely token')
        if (same !== undefined) assert.ok(Math.abs(same.logprob - t.logprob) < 1e-9)
        else assert.ok(t.logprob <= sorted[4]! + 1e-9, 'a token missing from the top 5 is less likely than all of them')
      }
    }
    const completion = await client.completions.create({ model: MODEL_NAME, prompt: 'Once upon', max_tokens: 6, temperature: 0, logprobs: 2 })
    const lp = completion.choices[0]!.logprobs!
    assert.equal(lp.tokens!.length, 6)
    assert.equal(lp.tokens!.join(''), completion.choices[0]!.text)
    assert.deepEqual(lp.text_offset!.slice(0, 2), [0, lp.tokens![0]!.length])
    assert.equal(Object.keys(lp.top_logprobs![0]!).length, 2)
  })

  test('n = 3: three choices from one prompt, each its own seed stream; usage counts them all', async () => {
    const res = await client.chat.completions.create({ model: MODEL_NAME, messages, max_tokens: 16, temperature: 1, seed: 11, n: 3 })
    assert.deepEqual(res.choices.map(c => c.index), [0, 1, 2])
    assert.equal(new Set(res.choices.map(c => c.message.content)).size, 3, 'different seeds give different texts')
    const single = await client.chat.completions.create({ model: MODEL_NAME, messages, max_tokens: 16, temperature: 1, seed: 12 })
    assert.equal(res.choices[1]!.message.content, single.choices[0]!.message.content, 'choice 1 samples with seed + 1')
    assert.equal(res.usage!.completion_tokens, 48)
    assert.equal(res.usage!.prompt_tokens, single.usage!.prompt_tokens)
    const stream = await client.chat.completions.create({ model: MODEL_NAME, messages, max_tokens: 16, temperature: 1, seed: 11, n: 3, stream: true })
    const texts = ['', '', '']
    for await (const chunk of stream) for (const c of chunk.choices) texts[c.index] += c.delta.content ?? ''
    assert.deepEqual(texts, res.choices.map(c => c.message.content))
  })

  test('json_schema: the output parses and validates (ajv), streaming and not', async () => {
    const ajv = new Ajv()
    const validate = ajv.compile(PERSON)
    for (const seed of [1, 2, 3]) {
      const res = await client.chat.completions.create({
        model: MODEL_NAME, messages, temperature: 1, seed, max_tokens: 120,
        response_format: { type: 'json_schema', json_schema: { name: 'person', schema: PERSON, strict: true } }
      })
      const value = JSON.parse(res.choices[0]!.message.content!)
      assert.ok(validate(value), ajv.errorsText(validate.errors))
    }
    const stream = await client.chat.completions.create({ model: MODEL_NAME, messages, temperature: 0, max_tokens: 60, response_format: { type: 'json_object' }, stream: true })
    let text = ''
    for await (const chunk of stream) text += chunk.choices[0]?.delta.content ?? ''
    assert.equal(typeof JSON.parse(text), 'object')
    await assert.rejects(client.chat.completions.create({
      model: MODEL_NAME, messages, response_format: { type: 'json_schema', json_schema: { name: 'x', schema: { type: 'string', pattern: '^a' } } }
    }), (err: unknown) => err instanceof OpenAI.BadRequestError && /keyword pattern/.test(err.message))
  })

  test('tools with tool_choice "required", streamed: tool_calls deltas assemble to a call whose arguments validate', async () => {
    const validate = new Ajv().compile(WEATHER.function.parameters!)
    const runner = client.chat.completions.stream({ model: MODEL_NAME, messages: [{ role: 'user', content: 'Weather in Paris?' }], tools: [WEATHER], tool_choice: 'required', temperature: 0.7, seed: 5, max_tokens: 80 })
    let deltas = 0
    runner.on('chunk', chunk => { if (chunk.choices[0]?.delta.tool_calls !== undefined) deltas++ })
    const final = await runner.finalChatCompletion()
    const choice = final.choices[0]!
    assert.equal(choice.finish_reason, 'tool_calls')
    const call = choice.message.tool_calls![0]! as OpenAI.Chat.ChatCompletionMessageFunctionToolCall
    assert.equal(call.function.name, 'get_weather')
    assert.match(call.id, /^call_/)
    assert.ok(validate(JSON.parse(call.function.arguments)), call.function.arguments)
    assert.ok(deltas > 2, `arguments arrive in pieces (${deltas} deltas)`)
    // the call goes back into the conversation through the template, with the tool's answer
    const next = await client.chat.completions.create({
      model: MODEL_NAME, max_tokens: 8, temperature: 0,
      messages: [{ role: 'user', content: 'Weather in Paris?' }, choice.message as OpenAI.Chat.ChatCompletionMessageParam, { role: 'tool', tool_call_id: call.id, content: 'sunny' }]
    })
    assert.equal(next.choices[0]!.finish_reason === 'length' || next.choices[0]!.finish_reason === 'stop', true)
    const named = await client.chat.completions.create({ model: MODEL_NAME, messages, tools: [WEATHER], tool_choice: { type: 'function', function: { name: 'get_weather' } }, max_tokens: 80 })
    assert.equal((named.choices[0]!.message.tool_calls![0] as OpenAI.Chat.ChatCompletionMessageFunctionToolCall).function.name, 'get_weather')
  })

  test('embeddings: float and base64 agree, unit length, batched and token-id inputs, dimensions refused unless the model\'s', async () => {
    const res = await client.embeddings.create({ model: MODEL_NAME, input: ['a cat', 'a dog', 'a cat'] })
    assert.equal(res.data.length, 3)
    const [a, b, c] = res.data.map(d => d.embedding)
    assert.equal(a!.length, model.config.dim)
    assert.ok(Math.abs(Math.hypot(...a!) - 1) < 1e-5)
    assert.deepEqual(a, c)
    assert.notDeepEqual(a, b)
    const floats = await client.embeddings.create({ model: MODEL_NAME, input: 'a cat', encoding_format: 'float' })
    for (let i = 0; i < a!.length; i++) assert.ok(Math.abs(floats.data[0]!.embedding[i]! - a![i]!) < 1e-6)
    const ids = await client.embeddings.create({ model: MODEL_NAME, input: [model.tokenizer.encode('a cat')] })
    assert.deepEqual(ids.data[0]!.embedding, a)
    assert.equal(res.usage.prompt_tokens, ['a cat', 'a dog', 'a cat'].reduce((n, t) => n + model.tokenizer.encode(t).length, 0))
    await assert.rejects(client.embeddings.create({ model: MODEL_NAME, input: 'x', dimensions: 3 }), (err: unknown) => err instanceof OpenAI.BadRequestError && err.param === 'dimensions')
  })

  test('responses: text, instructions, json format, streamed events, function calls', async () => {
    const res = await client.responses.create({ model: MODEL_NAME, input: 'Tell me a story.', instructions: 'Be brief.', max_output_tokens: 10, temperature: 0 })
    assert.equal(res.object, 'response')
    assert.equal(res.status, 'incomplete')
    assert.equal(res.incomplete_details?.reason, 'max_output_tokens')
    assert.ok(res.output_text.length > 0)
    assert.equal(res.usage!.output_tokens, 10)
    const json = await client.responses.create({
      model: MODEL_NAME, input: [{ role: 'user', content: 'Who?' }], max_output_tokens: 120, temperature: 1, seed: 4,
      text: { format: { type: 'json_schema', name: 'person', schema: PERSON, strict: true } }
    } as never) as OpenAI.Responses.Response
    assert.ok(new Ajv().validate(PERSON, JSON.parse(json.output_text)), json.output_text)
    const events: string[] = []
    let streamed = ''
    for await (const e of await client.responses.create({ model: MODEL_NAME, input: 'Hi', max_output_tokens: 12, temperature: 0, stream: true })) {
      events.push(e.type)
      if (e.type === 'response.output_text.delta') streamed += e.delta
    }
    assert.equal(events[0], 'response.created')
    assert.equal(events[events.length - 1], 'response.incomplete')
    assert.ok(events.includes('response.output_text.done'))
    const whole = await client.responses.create({ model: MODEL_NAME, input: 'Hi', max_output_tokens: 12, temperature: 0 })
    assert.equal(streamed, whole.output_text)
    const call = await client.responses.create({
      model: MODEL_NAME, input: 'Weather in Oslo?', tool_choice: 'required', max_output_tokens: 80,
      tools: [{ type: 'function', name: 'get_weather', parameters: WEATHER.function.parameters!, strict: true }]
    })
    const item = call.output.find(o => o.type === 'function_call')!
    assert.equal(item.type === 'function_call' && item.name, 'get_weather')
    assert.ok(item.type === 'function_call' && new Ajv().validate(WEATHER.function.parameters!, JSON.parse(item.arguments)))
    await assert.rejects(client.responses.create({ model: MODEL_NAME, input: 'x', previous_response_id: 'resp_1' }), (err: unknown) => err instanceof OpenAI.BadRequestError)
  })
})

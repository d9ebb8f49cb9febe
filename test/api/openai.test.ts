/** The official `openai` client against a running server with the bundled stories260K. */
import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import OpenAI from 'openai'
import { type Model, renderChat } from '../../src/model/index.ts'
import { MODEL_NAME, REFERENCE_200, type TestServer, loadModel, startServer } from './helpers.ts'

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

const messages: OpenAI.Chat.ChatCompletionMessageParam[] = [
  { role: 'system', content: 'You tell short stories.' },
  { role: 'user', content: 'Tell me about a cat.' }
]

/** The same chat generated in-process, for comparison. */
async function direct (maxTokens: number): Promise<{ text: string, promptTokens: number, completionTokens: number, finishReason: string | undefined }> {
  const chat = renderChat(model, messages.map(m => ({ role: m.role as 'system' | 'user', content: m.content as string })))
  const gen = model.generate(chat.text, { addBos: chat.addBos, stop: chat.stop, temperature: 0, maxTokens })
  let text = ''
  for await (const t of gen) text += t.text
  return { text, promptTokens: gen.promptTokens, completionTokens: gen.completionTokens, finishReason: gen.finishReason }
}

describe('OpenAI API with the openai client', () => {
  test('models list names the served model', async () => {
    const ids = []
    for await (const m of client.models.list()) ids.push(m.id)
    assert.deepEqual(ids, [MODEL_NAME])
    assert.equal((await client.models.retrieve(MODEL_NAME)).id, MODEL_NAME)
  })

  test('non-streaming chat: greedy text and usage match an in-process run', async () => {
    const want = await direct(40)
    const res = await client.chat.completions.create({ model: MODEL_NAME, messages, temperature: 0, max_tokens: 40 })
    assert.equal(res.object, 'chat.completion')
    assert.equal(res.choices.length, 1)
    assert.equal(res.choices[0]!.message.role, 'assistant')
    assert.equal(res.choices[0]!.message.content, want.text)
    assert.ok(want.text.length > 0)
    assert.equal(res.choices[0]!.finish_reason, want.finishReason)
    assert.deepEqual(res.usage, { prompt_tokens: want.promptTokens, completion_tokens: want.completionTokens, total_tokens: want.promptTokens + want.completionTokens })
  })

  test('streaming chat: chunks reassemble to the non-streaming text; usage chunk last', async () => {
    const whole = await client.chat.completions.create({ model: MODEL_NAME, messages, temperature: 0, max_completion_tokens: 60 })
    const stream = await client.chat.completions.create({
      model: MODEL_NAME, messages, temperature: 0, max_completion_tokens: 60, stream: true, stream_options: { include_usage: true }
    })
    let text = ''
    const finishes: string[] = []
    let usage: OpenAI.CompletionUsage | null | undefined
    let chunks = 0
    for await (const chunk of stream) {
      chunks++
      assert.equal(chunk.object, 'chat.completion.chunk')
      if (chunk.usage !== null && chunk.usage !== undefined) {
        assert.deepEqual(chunk.choices, [])
        usage = chunk.usage
        continue
      }
      const choice = chunk.choices[0]!
      text += choice.delta.content ?? ''
      if (choice.finish_reason !== null) finishes.push(choice.finish_reason)
    }
    assert.ok(chunks > 3, `expected many chunks, got ${chunks}`)
    assert.equal(text, whole.choices[0]!.message.content)
    assert.deepEqual(finishes, [whole.choices[0]!.finish_reason])
    assert.deepEqual(usage, whole.usage)
  })

  test('completions: greedy from BOS is llama2.c\'s reference text', async () => {
    const res = await client.completions.create({ model: MODEL_NAME, prompt: '', temperature: 0, max_tokens: 200 })
    assert.equal(res.choices[0]!.text, REFERENCE_200)
    assert.equal(res.choices[0]!.finish_reason, 'length')
    assert.deepEqual(res.usage, { prompt_tokens: 1, completion_tokens: 200, total_tokens: 201 })
  })

  test('streaming completions reassemble to the same text', async () => {
    const stream = await client.completions.create({ model: MODEL_NAME, prompt: '', temperature: 0, max_tokens: 200, stream: true })
    let text = ''
    let finish: string | null = null
    for await (const chunk of stream) {
      text += chunk.choices[0]?.text ?? ''
      finish = chunk.choices[0]?.finish_reason ?? finish
    }
    assert.equal(text, REFERENCE_200)
    assert.equal(finish, 'length')
  })

  test('max_tokens is respected: N tokens, finish "length", a prefix of the long run', async () => {
    for (const n of [1, 7, 33]) {
      const res = await client.completions.create({ model: MODEL_NAME, prompt: '', temperature: 0, max_tokens: n })
      assert.equal(res.usage!.completion_tokens, n)
      assert.equal(res.choices[0]!.finish_reason, 'length')
      assert.ok(REFERENCE_200.startsWith(res.choices[0]!.text), `${JSON.stringify(res.choices[0]!.text)} is not a prefix`)
    }
  })

  test('stop sequences end the text before the stop string, finish "stop"', async () => {
    const res = await client.completions.create({ model: MODEL_NAME, prompt: '', temperature: 0, max_tokens: 200, stop: ['named', 'zzz'] })
    assert.equal(res.choices[0]!.text, REFERENCE_200.slice(0, REFERENCE_200.indexOf('named')))
    assert.equal(res.choices[0]!.finish_reason, 'stop')
    const full = (await client.chat.completions.create({ model: MODEL_NAME, messages, temperature: 0, max_tokens: 60 })).choices[0]!.message.content!
    const at = full.indexOf(' the')
    assert.ok(at > 0, `the test needs " the" in ${JSON.stringify(full)}`)
    const chat = await client.chat.completions.create({ model: MODEL_NAME, messages, temperature: 0, max_tokens: 60, stop: ' the' })
    assert.equal(chat.choices[0]!.message.content, full.slice(0, at))
    assert.equal(chat.choices[0]!.finish_reason, 'stop')
  })

  test('a prompt of token ids is accepted', async () => {
    const ids = model.tokenizer.encode('Once upon a time')
    const a = await client.completions.create({ model: MODEL_NAME, prompt: ids, temperature: 0, max_tokens: 20 })
    const b = await client.completions.create({ model: MODEL_NAME, prompt: 'Once upon a time', temperature: 0, max_tokens: 20 })
    assert.equal(a.choices[0]!.text, b.choices[0]!.text)
    assert.equal(a.usage!.prompt_tokens, ids.length)
  })

  test('the same seed samples the same text', async () => {
    const ask = async (): Promise<string> => (await client.completions.create({ model: MODEL_NAME, prompt: 'Lily', temperature: 1, seed: 42, max_tokens: 30 })).choices[0]!.text
    assert.equal(await ask(), await ask())
  })

  test('unknown model: 404 with an OpenAI error object', async () => {
    await assert.rejects(client.chat.completions.create({ model: 'gpt-4o', messages }), (err: unknown) => {
      assert.ok(err instanceof OpenAI.NotFoundError)
      assert.equal(err.status, 404)
      assert.equal(err.code, 'model_not_found')
      assert.equal(err.type, 'invalid_request_error')
      assert.match(err.message, /gpt-4o/)
      return true
    })
  })

  test('bad requests: 400 naming the field', async () => {
    const cases: Array<[Record<string, unknown>, string]> = [
      [{ n: 17 }, 'n'],
      [{ temperature: 3 }, 'temperature'],
      [{ tools: [{ type: 'retrieval' }] }, 'tools[0].type'],
      [{ tools: [{ type: 'function', function: { name: 'f', parameters: { type: 'object', properties: { a: { type: 'string', pattern: 'x' } } } } }] }, 'tools[0].function.parameters'],
      [{ tool_choice: 'required' }, 'tool_choice'],
      [{ response_format: { type: 'json_schema', json_schema: { name: 's', schema: { type: 'string', format: 'uri' } } } }, 'response_format.json_schema.schema'],
      [{ top_logprobs: 3 }, 'top_logprobs'],
      [{ max_tokens: -1 }, 'max_tokens'],
      [{ messages: [] }, 'messages'],
      [{ messages: [{ role: 'wizard', content: 'hi' }] }, 'messages[0].role']
    ]
    for (const [extra, param] of cases) {
      await assert.rejects(client.chat.completions.create({ model: MODEL_NAME, messages, ...extra } as never), (err: unknown) => {
        assert.ok(err instanceof OpenAI.BadRequestError, `${JSON.stringify(extra)}: ${String(err)}`)
        assert.equal(err.param, param)
        return true
      })
    }
  })

  test('a prompt longer than the context: 400 context_length_exceeded', async () => {
    await assert.rejects(client.completions.create({ model: MODEL_NAME, prompt: 'Lily and Tom. '.repeat(200) }), (err: unknown) => {
      assert.ok(err instanceof OpenAI.BadRequestError)
      assert.equal(err.code, 'context_length_exceeded')
      return true
    })
  })
})

describe('API key', () => {
  test('without the key: 401; with it: served', async () => {
    const keyed = await startServer(model, { apiKey: 'sesame' })
    try {
      const denied = new OpenAI({ baseURL: `${keyed.url}/v1`, apiKey: 'wrong', maxRetries: 0 })
      await assert.rejects(denied.models.list(), (err: unknown) => err instanceof OpenAI.AuthenticationError && err.code === 'invalid_api_key')
      const bare = await fetch(`${keyed.url}/v1/models`)
      assert.equal(bare.status, 401)
      const allowed = new OpenAI({ baseURL: `${keyed.url}/v1`, apiKey: 'sesame', maxRetries: 0 })
      assert.equal((await allowed.models.list()).data[0]!.id, MODEL_NAME)
    } finally {
      await keyed.close()
    }
  })
})

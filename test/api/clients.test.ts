/** The `ollama` npm client and the AI SDK (`ai` + `@ai-sdk/openai-compatible`) against a running server with the bundled model. */
import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import { createOpenAICompatible } from '@ai-sdk/openai-compatible'
import { embed, generateObject } from 'ai'
import Ajv from 'ajv'
import { Ollama } from 'ollama'
import { z } from 'zod'
import type { Model } from '../../src/model/index.ts'
import { MODEL_NAME, type TestServer, loadModel, startServer } from './helpers.ts'

let model: Model
let srv: TestServer

before(async () => {
  model = await loadModel()
  srv = await startServer(model)
})
after(async () => {
  await srv.close()
  await model.close()
})

const PET = {
  type: 'object',
  properties: { name: { type: 'string', maxLength: 12 }, legs: { type: 'integer', minimum: 0, maximum: 8 }, cute: { type: 'boolean' } },
  required: ['name', 'legs', 'cute']
}

describe('ollama client', () => {
  const ollama = (): Ollama => new Ollama({ host: srv.url })

  test('chat with a format schema: the content parses and validates, streamed too', async () => {
    const res = await ollama().chat({ model: MODEL_NAME, messages: [{ role: 'user', content: 'A pet?' }], format: PET, options: { temperature: 0.8, seed: 2, num_predict: 80 } })
    assert.ok(new Ajv().validate(PET, JSON.parse(res.message.content)), res.message.content)
    assert.equal(res.done, true)
    let text = ''
    for await (const part of await ollama().chat({ model: MODEL_NAME, messages: [{ role: 'user', content: 'A pet?' }], format: 'json', stream: true, options: { num_predict: 80 } })) {
      text += part.message.content
    }
    assert.equal(typeof JSON.parse(text), 'object')
  })

  test('embed: one vector per input, unit length, the model\'s dimension; embeddings (the older route)', async () => {
    const res = await ollama().embed({ model: MODEL_NAME, input: ['a cat', 'a dog'] })
    assert.equal(res.embeddings.length, 2)
    assert.equal(res.embeddings[0]!.length, model.config.dim)
    assert.ok(Math.abs(Math.hypot(...res.embeddings[0]!) - 1) < 1e-5)
    assert.ok(res.prompt_eval_count > 0)
    const old = await ollama().embeddings({ model: MODEL_NAME, prompt: 'a cat' })
    for (let i = 0; i < old.embedding.length; i++) assert.ok(Math.abs(old.embedding[i]! - res.embeddings[0]![i]!) < 1e-6)
  })

  test('show, ps, version, list', async () => {
    const show = await ollama().show({ model: MODEL_NAME })
    assert.equal(show.details.family, 'llama')
    assert.equal((show.model_info as unknown as Record<string, unknown>)['llama.embedding_length'], model.config.dim)
    assert.ok(show.capabilities.includes('completion'))
    const ps = await ollama().ps()
    assert.deepEqual(ps.models.map(m => m.name), [MODEL_NAME])
    assert.match((await ollama().version()).version, /^\d+\.\d+\.\d+/)
    assert.deepEqual((await ollama().list()).models.map(m => m.name), [MODEL_NAME])
  })

  test('errors print their message, unknown routes included', async () => {
    await assert.rejects(ollama().chat({ model: 'llama3', messages: [{ role: 'user', content: 'hi' }] }), (err: Error) => {
      assert.equal(err.name, 'ResponseError')
      assert.match(err.message, /model "llama3" is not served here/)
      assert.equal((err as Error & { status_code: number }).status_code, 404)
      return true
    })
    await assert.rejects(ollama().pull({ model: MODEL_NAME }), (err: Error) => {
      assert.match(err.message, /no route for POST \/api\/pull/)
      assert.doesNotMatch(err.message, /object Object/)
      return true
    })
  })

  test('logprobs', async () => {
    const res = await ollama().generate({ model: MODEL_NAME, prompt: 'Once upon a time', logprobs: true, top_logprobs: 2, options: { temperature: 0, num_predict: 5 } })
    assert.equal(res.logprobs!.length, 5)
    assert.equal(res.logprobs!.map(l => l.token).join(''), res.response)
    assert.equal(res.logprobs![0]!.top_logprobs!.length, 2)
    assert.equal(res.logprobs![0]!.top_logprobs![0]!.logprob, res.logprobs![0]!.logprob)
  })
})

describe('AI SDK (openai-compatible provider)', () => {
  const provider = (): ReturnType<typeof createOpenAICompatible> =>
    createOpenAICompatible({ name: 'gridllm', baseURL: `${srv.url}/v1`, apiKey: 'unused', supportsStructuredOutputs: true })

  test('generateObject with a zod schema gives a typed object', async () => {
    const schema = z.object({ name: z.string().max(12), age: z.number().int().min(0).max(120), friends: z.array(z.string().max(8)).max(2), kind: z.enum(['cat', 'dog']) })
    const { object, finishReason } = await generateObject({ model: provider()(MODEL_NAME), schema, prompt: 'Make up a pet.', temperature: 0.8, seed: 9, maxOutputTokens: 150, maxRetries: 0 })
    assert.equal(finishReason, 'stop')
    assert.equal(schema.safeParse(object).success, true)
  })

  test('embed', async () => {
    const { embedding, usage } = await embed({ model: provider().embeddingModel(MODEL_NAME), value: 'a cat', maxRetries: 0 })
    assert.equal(embedding.length, model.config.dim)
    assert.ok(usage.tokens > 0)
  })
})

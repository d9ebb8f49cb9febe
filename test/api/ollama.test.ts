/** Ollama's native routes through fetch: NDJSON streams, `done: true` last, tags, errors. */
import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import type { Model } from '../../src/model/index.ts'
import { MODEL_NAME, REFERENCE_200, type TestServer, loadModel, startServer } from './helpers.ts'

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

async function post (path: string, body: unknown): Promise<Response> {
  return await fetch(`${srv.url}${path}`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body) })
}

/** Every line of an NDJSON body, parsed; the body must end with a newline. */
async function ndjson (res: Response): Promise<Array<Record<string, unknown>>> {
  assert.equal(res.status, 200)
  assert.equal(res.headers.get('content-type'), 'application/x-ndjson')
  const text = await res.text()
  assert.ok(text.endsWith('\n'))
  return text.trimEnd().split('\n').map(line => JSON.parse(line) as Record<string, unknown>)
}

function checkDoneLast (lines: Array<Record<string, unknown>>): Record<string, unknown> {
  assert.ok(lines.length >= 2)
  lines.slice(0, -1).forEach(l => assert.equal(l.done, false))
  const last = lines[lines.length - 1]!
  assert.equal(last.done, true)
  return last
}

describe('Ollama API', () => {
  test('/api/generate raw streams NDJSON; the pieces are the greedy reference; done last with counts', async () => {
    const lines = await ndjson(await post('/api/generate', { model: MODEL_NAME, prompt: 'Once upon a time', raw: true, options: { temperature: 0, repeat_penalty: 1, num_predict: 50 } }))
    const last = checkDoneLast(lines)
    assert.equal(last.done_reason, 'length')
    assert.equal(last.eval_count, 50)
    assert.equal(last.prompt_eval_count, model.tokenizer.encode('Once upon a time').length)
    for (const key of ['total_duration', 'prompt_eval_duration', 'eval_duration']) assert.ok((last[key] as number) > 0, key)
    const text = 'Once upon a time' + lines.map(l => l.response as string).join('')
    assert.ok(REFERENCE_200.startsWith(text), text) // the reference run starts with these very words
    assert.ok(lines.every(l => l.model === MODEL_NAME && typeof l.created_at === 'string'))
  })

  test('/api/generate with stream: false answers one object equal to the joined stream', async () => {
    const body = { model: MODEL_NAME, prompt: 'Tell me a story', options: { temperature: 0, num_predict: 30 } }
    const streamed = await ndjson(await post('/api/generate', body))
    const res = await post('/api/generate', { ...body, stream: false })
    assert.equal(res.status, 200)
    const one = await res.json() as Record<string, unknown>
    assert.equal(one.done, true)
    assert.equal(one.response, streamed.map(l => l.response).join(''))
    assert.equal(one.eval_count, checkDoneLast(streamed).eval_count)
  })

  test('/api/chat streams NDJSON messages; equals the non-streaming reply', async () => {
    const body = { model: `${MODEL_NAME}:latest`, messages: [{ role: 'user', content: 'Hi!' }], options: { temperature: 0, num_predict: 40, stop: ['zzz'] } }
    const lines = await ndjson(await post('/api/chat', body))
    const last = checkDoneLast(lines)
    assert.ok(last.done_reason === 'stop' || last.done_reason === 'length')
    const streamed = lines.map(l => (l.message as { role: string, content: string }).content).join('')
    assert.ok(lines.every(l => (l.message as { role: string }).role === 'assistant'))
    const one = await (await post('/api/chat', { ...body, stream: false })).json() as { message: { content: string }, done: boolean }
    assert.equal(one.done, true)
    assert.equal(one.message.content, streamed)
    assert.ok(streamed.length > 0)
  })

  test('/api/tags lists the model', async () => {
    const res = await fetch(`${srv.url}/api/tags`)
    const { models } = await res.json() as { models: Array<{ name: string, digest: string, details: { family: string, parameter_size: string } }> }
    assert.equal(models.length, 1)
    assert.equal(models[0]!.name, MODEL_NAME)
    assert.equal(models[0]!.digest, model.modelId)
    assert.equal(models[0]!.details.family, 'llama')
    assert.equal(models[0]!.details.parameter_size, '260K')
  })

  test('errors in Ollama\'s shape: unknown model 404, bad option 400', async () => {
    const missing = await post('/api/chat', { model: 'llama3', messages: [{ role: 'user', content: 'hi' }] })
    assert.equal(missing.status, 404)
    assert.match((await missing.json() as { error: string }).error, /llama3/)
    const bad = await post('/api/generate', { model: MODEL_NAME, prompt: 'x', options: { temperature: 'hot' } })
    assert.equal(bad.status, 400)
    assert.match((await bad.json() as { error: string }).error, /options\.temperature/)
    const unsupported = await post('/api/generate', { model: MODEL_NAME, prompt: 'x', format: { type: 'string', format: 'email' } })
    assert.equal(unsupported.status, 400)
    assert.match((await unsupported.json() as { error: string }).error, /format: keyword format is not supported/)
  })

  test('an empty prompt loads the model (done_reason "load")', async () => {
    const res = await post('/api/generate', { model: MODEL_NAME })
    const body = await res.json() as Record<string, unknown>
    assert.equal(body.done, true)
    assert.equal(body.done_reason, 'load')
  })

  test('/api/generate on a model without a chat template continues the prompt as written, like raw', async () => {
    const options = { temperature: 0, num_predict: 20 }
    const plain = await (await post('/api/generate', { model: MODEL_NAME, prompt: 'Once upon a time', stream: false, options })).json() as { response: string }
    const raw = await (await post('/api/generate', { model: MODEL_NAME, prompt: 'Once upon a time', raw: true, stream: false, options })).json() as { response: string }
    assert.equal(plain.response, raw.response)
    assert.ok(REFERENCE_200.startsWith('Once upon a time' + plain.response))
  })

  test('/api/chat with tools: a call in the reply comes back as message.tool_calls', async () => {
    // format makes the reply a Llama 3 style JSON call; with tools offered it is read back as a call
    const tools = [{ type: 'function', function: { name: 'get_weather', parameters: { type: 'object', properties: { city: { type: 'string' } } } } }]
    const res = await post('/api/chat', { model: MODEL_NAME, messages: [{ role: 'user', content: 'Weather?' }], tools, stream: false, format: { type: 'object', properties: { name: { const: 'get_weather' }, arguments: { type: 'object', properties: { city: { type: 'string', maxLength: 8 } }, required: ['city'] } }, required: ['name', 'arguments'] }, options: { num_predict: 60 } })
    const body = await res.json() as { message: { content: string, tool_calls?: Array<{ function: { name: string, arguments: { city: string } } }> } }
    assert.equal(body.message.tool_calls?.[0]?.function.name, 'get_weather', JSON.stringify(body))
    assert.equal(typeof body.message.tool_calls![0]!.function.arguments.city, 'string')
  })
})

/**
 * A response served from a verifying swarm says what verification did for it: the `gridllm` field
 * (audits of the swarm's steps, and how many failed) on OpenAI chat and completions bodies, the
 * final streamed chunk with usage, and Ollama's `done` line. A local model's responses have none.
 */
import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { type ApiServer, localEngine, serveApi } from '../../src/api/index.ts'
import { Model } from '../../src/model/index.ts'
import { loadSwarmModel } from '../../src/swarm/index.ts'
import { verification } from '../../src/verify/index.ts'
import { ALWAYS, TestSwarm } from './swarm.ts'
import { STORIES } from '../swarm/harness.ts'

interface Extension { gridllm?: { audits: number, audit_failures: number } }

describe('the gridllm field of responses', () => {
  let swarm: TestSwarm
  let model: Model
  let server: ApiServer

  before(async () => {
    swarm = await TestSwarm.start(1, 0)
    model = await loadSwarmModel(STORIES, { bootstrap: swarm.bootstrap, watcher: verification({ mode: 'sample', policy: ALWAYS }) })
    server = await serveApi({ engine: localEngine([{ model, name: 'stories' }]), port: 0 })
  })

  after(async () => {
    await server?.close()
    await model?.close()
    await swarm?.stop()
  })

  const post = async (path: string, body: object): Promise<Response> =>
    await fetch(`${server.url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) })

  const audited = (e: Extension): void => {
    assert.ok(e.gridllm !== undefined, `a gridllm field in ${JSON.stringify(e)}`)
    assert.ok(e.gridllm.audits > 0, 'every request is audited under this policy')
    assert.equal(e.gridllm.audit_failures, 0, 'honest servers fail no audit')
  }

  test('chat completion body', async () => {
    audited(await (await post('/v1/chat/completions', { model: 'stories', messages: [{ role: 'user', content: 'Lily' }], max_tokens: 8 })).json() as Extension)
  })

  test('text completion body', async () => {
    audited(await (await post('/v1/completions', { model: 'stories', prompt: 'Lily', max_tokens: 8 })).json() as Extension)
  })

  test('the usage chunk that ends a chat stream', async () => {
    const text = await (await post('/v1/chat/completions', { model: 'stories', messages: [{ role: 'user', content: 'Lily' }], max_tokens: 8, stream: true, stream_options: { include_usage: true } })).text()
    const chunks = text.split('\n').filter(l => l.startsWith('data: {')).map(l => JSON.parse(l.slice(6)) as Extension & { usage?: unknown })
    const last = chunks.at(-1)!
    assert.ok(last.usage !== null && last.usage !== undefined, 'the last chunk carries usage')
    audited(last)
    assert.ok(chunks.slice(0, -1).every(c => c.gridllm === undefined), 'only the final chunk says it')
  })

  test('a local model\'s responses have none', async () => {
    const local = await Model.load(STORIES)
    const plain = await serveApi({ engine: localEngine([{ model: local, name: 'stories' }]), port: 0 })
    try {
      const res = await fetch(`${plain.url}/v1/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: 'stories', prompt: 'Lily', max_tokens: 4 }) })
      assert.equal((await res.json() as Extension).gridllm, undefined)
    } finally {
      await plain.close()
      await local.close()
    }
  })

  test('Ollama\'s done line', async () => {
    audited(await (await post('/api/generate', { model: 'stories', prompt: 'Lily', stream: false, options: { num_predict: 8 } })).json() as Extension)
  })
})

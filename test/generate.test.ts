/** Generation-level behaviour: stop strings, token limits, cancellation, and the CLI end to end. */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { promisify } from 'node:util'
import { fileURLToPath } from 'node:url'
import { LocalSpanExecutor, Model } from '../src/model/index.ts'
import { STORIES_GGUF, expectedText } from './fixtures/stories.ts'

const BIN = fileURLToPath(new URL('../bin/gridllm.mjs', import.meta.url))

function openSessions (model: Model): number {
  return model.executors.reduce((n, e) => n + (e as LocalSpanExecutor).openSessions, 0)
}

test('a stop string ends the generation and is not part of the text', async () => {
  const model = await Model.load(STORIES_GGUF)
  try {
    const gen = model.generate([], { temperature: 0, maxTokens: 200, stop: ['Lily.', 'girl named'] })
    let streamed = ''
    for await (const t of gen) streamed += t.text
    assert.equal(gen.finishReason, 'stop')
    assert.equal(streamed, 'Once upon a time, there was a little ')
    assert.equal(gen.text, streamed)
    assert.equal(openSessions(model), 0)
  } finally {
    await model.close()
  }
})

test('a stop token ends the generation; its text is not emitted', async () => {
  const model = await Model.load(STORIES_GGUF)
  try {
    const lily = model.tokenizer.encode('Lily', { addBos: false }) // the space prefix makes it ▁Lily
    assert.equal(lily.length, 1)
    const gen = model.generate([], { temperature: 0, maxTokens: 200, stopTokens: lily })
    for await (const _ of gen) { /* consume */ }
    assert.equal(gen.finishReason, 'stop')
    assert.equal(gen.text, 'Once upon a time, there was a little girl named')
  } finally {
    await model.close()
  }
})

test('max tokens: exactly that many, finish reason length; 0 generates nothing', async () => {
  const model = await Model.load(STORIES_GGUF, { spans: [[0, 3], [3, 5]] })
  try {
    const gen = model.generate('Once upon a time', { temperature: 0, maxTokens: 7 })
    const ids: number[] = []
    for await (const t of gen) ids.push(t.id)
    assert.equal(ids.length, 7)
    assert.equal(gen.completionTokens, 7)
    assert.equal(gen.promptTokens, 5)
    assert.equal(gen.finishReason, 'length')
    const none = model.generate('Once', { maxTokens: 0 })
    for await (const _ of none) assert.fail('no tokens expected')
    assert.equal(none.finishReason, 'length')
  } finally {
    await model.close()
  }
})

test('aborting mid-generation stops with AbortError and closes every session', async () => {
  const model = await Model.load(STORIES_GGUF, { spans: [[0, 2], [2, 5]] })
  try {
    const ac = new AbortController()
    const gen = model.generate([], { temperature: 0, maxTokens: 200, signal: ac.signal })
    let n = 0
    await assert.rejects(async () => {
      for await (const _ of gen) if (++n === 10) ac.abort()
    }, { code: 'ABORTED' })
    assert.equal(n, 10)
    assert.equal(openSessions(model), 0)
    // breaking out of the loop also closes the sessions
    for await (const _ of model.generate('Lily', { maxTokens: 50 })) break
    assert.equal(openSessions(model), 0)
  } finally {
    await model.close()
  }
})

test('the same seed gives the same sampled text', async () => {
  const model = await Model.load(STORIES_GGUF)
  try {
    const sample = async (seed: number): Promise<string> => {
      const gen = model.generate('Once upon a time', { temperature: 1, seed, maxTokens: 40 })
      for await (const _ of gen) { /* consume */ }
      return gen.text
    }
    assert.equal(await sample(5), await sample(5))
    assert.notEqual(await sample(5), await sample(6))
  } finally {
    await model.close()
  }
})

test('gridllm generate prints llama2.c\'s reference text (whole model and split)', async () => {
  const exec = promisify(execFile)
  for (const extra of [[], ['--spans', '0:1,1:3,3:5']]) {
    const { stdout } = await exec(process.execPath, [BIN, 'generate', '--model', STORIES_GGUF, '-t', '0', '-n', '200', '--no-echo', ...extra])
    assert.equal(stdout, expectedText() + '\n')
  }
  const { stdout } = await exec(process.execPath, [BIN, 'generate', '--prompt', 'Once upon a time', '-t', '0', '-n', '5'])
  assert.match(stdout, /^Once upon a time, there was a little\n$/)
})

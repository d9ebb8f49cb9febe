/** n continuations of one prompt: the prompt is computed once and its KV cache forked, each choice as if run alone. */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { DEFAULT_MODEL } from '../src/cli/command.ts'
import { Model, PrefillShare, type Generation } from '../src/model/index.ts'

async function text (g: Generation): Promise<string> {
  let out = ''
  for await (const t of g) out += t.text
  return out
}

test('a shared prefill runs the prompt once; each forked choice equals its own run; forks are freed', async () => {
  for (const spans of [undefined, [[0, 2], [2, 5]] as const]) {
    const model = await Model.load(DEFAULT_MODEL, { spans: spans as never })
    const prompt = 'Once upon a time, there was a little girl named Lily.'
    const options = { temperature: 1, topK: 0, topP: 1, minP: 0, maxTokens: 40 }
    const alone = await Promise.all([0, 1, 2].map(async i => await text(model.generate(prompt, { ...options, seed: 100 + i }))))
    const share = new PrefillShare(3)
    const shared: string[] = []
    for (let i = 0; i < 3; i++) shared.push(await text(model.generate(prompt, { ...options, seed: 100 + i, share })))
    assert.equal(share.prefills, 1, 'one prefill for three choices')
    assert.deepEqual(shared, alone)
    assert.equal(new Set(shared).size, 3)
    // a share whose choices are not all run leaves no session behind
    const unused = new PrefillShare(4)
    await text(model.generate(prompt, { ...options, seed: 1, share: unused }))
    await unused.dispose()
    for (const e of model.executors) assert.equal(e.stats?.().openSessions, 0)
    await model.close()
  }
})

/** `--speculate` and `--draft` end to end: the CLI's greedy text is llama2.c's whatever the mode; bad values and mismatched drafters are refused. */
import { after, test } from 'node:test'
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { fileURLToPath } from 'node:url'
import { writeSyntheticGguf } from '../src/model/synthetic.ts'
import { STORIES_GGUF, expectedText } from './fixtures/stories.ts'
import { tempDir } from './swarm/harness.ts'

const BIN = fileURLToPath(new URL('../bin/gridllm.mjs', import.meta.url))
const run = async (args: string[]): Promise<{ stdout: string, stderr: string }> => await promisify(execFile)(process.execPath, [BIN, 'generate', '-m', STORIES_GGUF, ...args])
const dir = tempDir()
after(() => { dir.remove() })

test('gridllm generate prints llama2.c\'s text with --speculate off, auto (default), 5, and auto:8 with a draft model', async () => {
  const modes = [['--speculate', 'off'], [], ['--speculate', '5'], ['--speculate', 'auto:8', '--draft', STORIES_GGUF]]
  const outs = await Promise.all(modes.map(async m => await run(['-t', '0', '-n', '200', '--no-echo', '--stats', ...m])))
  for (const [i, o] of outs.entries()) assert.equal(o.stdout.trimEnd(), expectedText(), modes[i]!.join(' '))
  assert.match(outs[2]!.stderr, /\d+ of \d+ drafts kept in \d+ steps/)
  assert.doesNotMatch(outs[0]!.stderr, /drafts kept/)
})

test('gridllm chat replies the same with and without speculation; with --api the flags are refused', async () => {
  const chat = async (args: string[]): Promise<string> => await new Promise((resolve, reject) => {
    const child = execFile(process.execPath, [BIN, 'chat', '-m', STORIES_GGUF, '-t', '0', '-n', '60', ...args], (err, stdout) => { if (err !== null) reject(err); else resolve(stdout) })
    child.stdin!.end('Once upon a time\nTell me more\n')
  })
  const [off, on] = await Promise.all([chat(['--speculate', 'off']), chat(['--speculate', '6'])])
  assert.ok(off.length > 20)
  assert.equal(on, off)
  await assert.rejects(promisify(execFile)(process.execPath, [BIN, 'chat', '--api', 'http://127.0.0.1:1', '--speculate', '4']), (err: { stderr: string }) => /an API server speculates as it was started/.test(err.stderr))
})

test('bad --speculate values, --draft without speculation and a draft model of another vocabulary are refused', async () => {
  for (const bad of ['0', '9', 'sometimes', '2.5', 'auto:0', 'auto:9']) {
    await assert.rejects(run(['--speculate', bad]), (err: { stderr: string, code: number }) => err.code === 2 && /--speculate must be off, auto, auto:<n> or a whole number from 1 to 8/.test(err.stderr))
  }
  await assert.rejects(run(['--speculate', 'off', '--draft', STORIES_GGUF]), (err: { stderr: string }) => /--draft needs speculative decoding/.test(err.stderr))
  const other = join(dir.path, 'other.gguf')
  writeSyntheticGguf(other, { dim: 64, hiddenDim: 128, nLayers: 1, nHeads: 4, nKvHeads: 4, vocabSize: 600, contextLength: 128 })
  await assert.rejects(run(['--draft', other, '-n', '5']), (err: { stderr: string }) => /vocabulary has 600 tokens, the model's 512/.test(err.stderr))
})

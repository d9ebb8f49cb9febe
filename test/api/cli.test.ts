/** The serving commands end to end: chat with piped stdin (local and through the API), api, --help. */
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { tmpdir } from 'node:os'
import { Readable, Writable } from 'node:stream'
import { after, before, describe, test } from 'node:test'
import { fileURLToPath } from 'node:url'
import { commands, run } from '../../src/cli/main.ts'
import { type ChatMessage, type Model, renderChat } from '../../src/model/index.ts'
import { type TestServer, loadModel, startServer } from './helpers.ts'

const BIN = fileURLToPath(new URL('../../bin/gridllm.mjs', import.meta.url))
const INPUT = 'Hello\n/reset\nHello\n\nTell me more\n'

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

/** What `gridllm chat -t 0 -n 20` must print for INPUT: computed in-process with the chat's sampling. */
async function expectedTranscript (): Promise<string> {
  const reply = async (messages: ChatMessage[]): Promise<string> => {
    const chat = renderChat(model, messages)
    const gen = model.generate(chat.text, { addBos: chat.addBos, stop: chat.stop, temperature: 0, topP: 0.95, topK: 0, minP: 0, maxTokens: 20 })
    let text = ''
    for await (const t of gen) text += t.text
    return text
  }
  const first = await reply([{ role: 'user', content: 'Hello' }])
  const third = await reply([{ role: 'user', content: 'Hello' }, { role: 'assistant', content: first.trim() }, { role: 'user', content: 'Tell me more' }])
  return `${first}\n${first}\n${third}\n` // /reset forgets the first exchange, so "Hello" gets the same reply
}

function exec (args: string[], input: string): Promise<{ code: number | null, stdout: string, stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], { stdio: ['pipe', 'pipe', 'pipe'], env: { PATH: process.env.PATH, HOME: process.env.HOME }, cwd: tmpdir() })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', d => { stdout += String(d) })
    child.stderr.on('data', d => { stderr += String(d) })
    child.on('error', reject)
    child.on('exit', code => resolve({ code, stdout, stderr }))
    child.stdin.end(input)
  })
}

/** Runs the CLI in this process with the given stdin; returns its exit status and output. */
async function runCli (args: string[], input = ''): Promise<{ code: number, stdout: string, stderr: string }> {
  let stdout = ''
  let stderr = ''
  const sink = (append: (s: string) => void): Writable => new Writable({ write (chunk, _enc, cb) { append(String(chunk)); cb() } })
  const code = await run(args, {
    stdin: Readable.from([input]),
    stdout: sink(s => { stdout += s }),
    stderr: sink(s => { stderr += s }),
    env: {},
    cwd: tmpdir(),
    signal: new AbortController().signal
  })
  return { code, stdout, stderr }
}

describe('gridllm chat', () => {
  test('a local model with piped stdin: one streamed reply per line, /reset forgets', async () => {
    const { code, stdout, stderr } = await exec(['chat', '-t', '0', '-n', '20'], INPUT)
    assert.equal(code, 0, stderr)
    assert.equal(stdout, await expectedTranscript())
  })

  test('--api: the same conversation through the HTTP API', async () => {
    const { code, stdout, stderr } = await runCli(['chat', '--api', `${srv.url}/v1`, '-t', '0', '-n', '20'], INPUT)
    assert.equal(code, 0, stderr)
    assert.equal(stdout, await expectedTranscript())
  })

  test('--api to a server that refuses: a clear error, exit status 1', async () => {
    const keyed = await startServer(model, { apiKey: 'k' })
    try {
      const { code, stderr } = await runCli(['chat', '--api', keyed.url], 'hi\n')
      assert.equal(code, 1)
      assert.match(stderr, /the server answered 401: missing API key.*\[REMOTE_ERROR\]/)
    } finally {
      await keyed.close()
    }
  })

  test('--api to a server that is not there: says what was unreachable, no stack', async () => {
    const gone = await startServer(model)
    const url = gone.url
    await gone.close()
    const { code, stderr } = await runCli(['chat', '--api', url], 'hi\n')
    assert.equal(code, 1)
    assert.match(stderr, new RegExp(`cannot reach the API server at ${url.replaceAll('.', '\\.')} \\(ECONNREFUSED\\).*\\[PEER_UNREACHABLE\\]`))
    assert.doesNotMatch(stderr, /unexpected error|fetch failed|\n\s+at /)
  })
})

describe('gridllm api', () => {
  test('prints "listening <url>", serves, and stops cleanly on SIGINT', async () => {
    const child = spawn(process.execPath, [BIN, 'api', '--port', '0', '--max-queue', '2'], { stdio: ['ignore', 'pipe', 'pipe'], env: { PATH: process.env.PATH, HOME: process.env.HOME }, cwd: tmpdir() })
    let stderr = ''
    child.stderr.on('data', d => { stderr += String(d) })
    const url = await new Promise<string>((resolve, reject) => {
      child.stdout.on('data', d => { const m = /^listening (\S+)/m.exec(String(d)); if (m !== null) resolve(m[1]!) })
      child.on('exit', code => reject(new Error(`exited ${code}: ${stderr}`)))
    })
    const res = await fetch(`${url}/v1/models`)
    assert.deepEqual(((await res.json()) as { data: Array<{ id: string }> }).data.map(m => m.id), ['stories260K'])
    assert.match(await (await fetch(`${url}/metrics`)).text(), /gridllm_queue_capacity 2\n/)
    const exited = new Promise(resolve => child.on('exit', (code, signal) => resolve(code ?? signal)))
    child.kill('SIGINT')
    assert.equal(await exited, 0)
    assert.match(stderr, /loading stories260K/)
  })

  test('a port in use: a clear error, exit status 1', async () => {
    const { code, stderr } = await runCli(['api', '--port', String(srv.server.port)])
    assert.equal(code, 1)
    assert.match(stderr, /gridllm api: cannot listen on 127\.0\.0\.1:\d+: the address is in use \[INVALID_ARGUMENT\]/)
  })

  test('a bad setting is reported with its source, exit status 1', async () => {
    const { code, stderr } = await runCli(['api', '--port', 'http'])
    assert.equal(code, 1)
    assert.match(stderr, /gridllm api: --port must be an integer from 0 to 65535, got "http" \[INVALID_CONFIG\]/)
  })
})

test('--help on every command', async () => {
  for (const command of commands) {
    const { code, stdout } = await runCli([command.name, '--help'])
    assert.equal(code, 0, command.name)
    assert.match(stdout, new RegExp(`^Usage: gridllm ${command.name}`), command.name)
  }
})

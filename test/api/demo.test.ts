/**
 * `gridllm demo`: starts span servers and the API, answers one request, and stops every process on
 * SIGINT.
 */
import assert from 'node:assert/strict'
import { execFileSync, spawn } from 'node:child_process'
import { tmpdir } from 'node:os'
import { test } from 'node:test'
import { fileURLToPath } from 'node:url'

const BIN = fileURLToPath(new URL('../../bin/gridllm.mjs', import.meta.url))

/** Every descendant of `pid` (ps is in procps, present wherever CI runs). */
function descendants (pid: number): number[] {
  const rows = execFileSync('ps', ['-e', '-o', 'pid=,ppid='], { encoding: 'utf8' }).trim().split('\n').map(r => r.trim().split(/\s+/).map(Number))
  const out: number[] = []
  const walk = (p: number): void => { for (const [child, parent] of rows) if (parent === p) { out.push(child!); walk(child!) } }
  walk(pid)
  return out
}

function alive (pid: number): boolean {
  try { process.kill(pid, 0); return true } catch { return false }
}

test('gridllm demo starts a swarm, answers one API request, and stops cleanly on SIGINT', { timeout: 120_000 }, async () => {
  const demo = spawn(process.execPath, [BIN, 'demo', '--port', '0'], { stdio: ['ignore', 'pipe', 'pipe'], env: { PATH: process.env.PATH, HOME: process.env.HOME }, cwd: tmpdir() })
  let stdout = ''
  let stderr = ''
  demo.stderr.on('data', d => { stderr += String(d) })
  const exited = new Promise<number | string | null>(resolve => demo.on('exit', (code, signal) => resolve(code ?? signal)))
  await new Promise<void>((resolve, reject) => {
    demo.stdout.on('data', d => { stdout += String(d); if (stdout.includes('Ctrl-C stops it')) resolve() })
    void exited.then(code => reject(new Error(`demo exited (${code}):\n${stdout}\n${stderr}`)))
  })
  assert.equal((stdout.match(/^span server for layers \d+:\d+ +\/ip4\/127\.0\.0\.1\/tcp\/\d+\/p2p\//gm) ?? []).length, 3, stdout)
  const url = /^API +(http:\/\/\S+)$/m.exec(stdout)![1]!
  const res = await fetch(`${url}/v1/completions`, {
    method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ model: 'stories260K', prompt: '', temperature: 0, max_tokens: 20 })
  })
  assert.equal(res.status, 200)
  assert.match(((await res.json()) as { choices: Array<{ text: string }> }).choices[0]!.text, /^Once upon a time/)
  // the web page, cross-origin isolated, and the WebSockets peers its tabs join through
  const page = /^web page +(http:\/\/\S+)/m.exec(stdout)![1]!
  const html = await fetch(page)
  assert.equal(html.headers.get('cross-origin-embedder-policy'), 'require-corp')
  assert.match(await html.text(), /Donate/)
  const { bootstrap } = await (await fetch(`${url}/config.json`)).json() as { bootstrap: string[] }
  assert.ok(bootstrap.length > 0 && bootstrap.every(a => /\/ws\/p2p\//.test(a)), JSON.stringify(bootstrap))

  const children = descendants(demo.pid!)
  assert.ok(children.length >= 4, `3 span servers and the API run as processes (found ${children.length})`)
  demo.kill('SIGINT')
  assert.equal(await exited, 0, stderr)
  // helpers such as esbuild's service process end right after their parent: allow them a moment
  for (let i = 0; i < 50 && children.some(alive); i++) await new Promise(resolve => setTimeout(resolve, 100))
  for (const pid of children) assert.ok(!alive(pid), `process ${pid} is gone`)
})

test('kill -9 of gridllm demo: its servers and API notice and exit on their own', { timeout: 120_000 }, async () => {
  const demo = spawn(process.execPath, [BIN, 'demo', '--port', '0', '--servers', '2'], { stdio: ['ignore', 'pipe', 'pipe'], env: { PATH: process.env.PATH }, cwd: tmpdir() })
  let stdout = ''
  const exited = new Promise<void>(resolve => demo.on('exit', () => resolve()))
  await new Promise<void>((resolve, reject) => {
    demo.stdout.on('data', d => { stdout += String(d); if (stdout.includes('Ctrl-C stops it')) resolve() })
    void exited.then(() => reject(new Error(`demo exited:\n${stdout}`)))
  })
  const children = descendants(demo.pid!)
  assert.ok(children.length >= 3, `2 span servers and the API (found ${children.length})`)
  demo.kill('SIGKILL')
  await exited
  for (let i = 0; i < 150 && children.some(alive); i++) await new Promise(resolve => setTimeout(resolve, 100))
  const left = children.filter(alive)
  for (const pid of left) process.kill(pid, 'SIGKILL') // leave nothing behind, then fail
  assert.deepEqual(left, [], 'every child exited within 15 s of its parent')
})

import assert from 'node:assert/strict'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import { CONFIG_FILE, loadConfig } from './config.ts'

let dir: string
before(() => { dir = mkdtempSync(join(tmpdir(), 'gridllm-config-')) })
after(() => { rmSync(dir, { recursive: true, force: true }) })

function file (json: unknown, name = CONFIG_FILE): string {
  const path = join(dir, name)
  writeFileSync(path, typeof json === 'string' ? json : JSON.stringify(json))
  return path
}

const invalid = (pattern: RegExp) => (err: Error & { code?: string }) => err.code === 'INVALID_CONFIG' && pattern.test(err.message)

describe('loadConfig', () => {
  test('defaults with no file, environment or flags', () => {
    const c = loadConfig({ cwd: join(dir, 'nowhere') })
    assert.deepEqual(c, {
      model: undefined, host: '127.0.0.1', port: 8080, apiKey: undefined, maxConcurrency: 4, maxQueue: 512,
      api: undefined, bootstrap: [], swarmKey: undefined, backend: 'auto', threads: undefined, verify: 'sample', dataDir: undefined, cors: undefined, allowedHosts: [], credits: 'on',
      speculate: 'auto', draft: undefined, wire: 'f32'
    })
    const lists = loadConfig({ cwd: join(dir, 'nowhere'), env: { GRIDLLM_CORS: 'https://a.example, http://localhost:3000' }, flags: { allowedHosts: ['my.host'] } })
    assert.deepEqual([lists.cors, lists.allowedHosts], [['https://a.example', 'http://localhost:3000'], ['my.host']])
  })

  test('verify and dataDir: a mode from the list, a data directory relative to the file', () => {
    file({ verify: 'strict', dataDir: 'state' })
    const c = loadConfig({ cwd: dir })
    assert.equal(c.verify, 'strict')
    assert.equal(c.dataDir, join(dir, 'state'))
    assert.equal(loadConfig({ cwd: dir, flags: { verify: 'off' } }).verify, 'off')
    assert.throws(() => loadConfig({ cwd: dir, env: { GRIDLLM_VERIFY: 'maybe' } }), /GRIDLLM_VERIFY must be one of off, sample, strict, got "maybe"/)
    assert.equal(loadConfig({ cwd: dir, env: { GRIDLLM_WIRE: 'i8' } }).wire, 'i8')
    assert.throws(() => loadConfig({ cwd: dir, flags: { wire: 'int4' } }), /--wire must be one of f32, f16, i8, got "int4"/)
  })

  test('speculate and draft: off, auto or a draft length; a draft model relative to the file', () => {
    file({ speculate: 4, draft: 'small.gguf' })
    const c = loadConfig({ cwd: dir })
    assert.equal(c.speculate, '4')
    assert.equal(c.draft, join(dir, 'small.gguf'))
    assert.equal(loadConfig({ cwd: dir, flags: { speculate: 'off' } }).speculate, 'off')
    assert.equal(loadConfig({ cwd: dir, env: { GRIDLLM_SPECULATE: 'auto:6' } }).speculate, 'auto:6')
    for (const bad of ['9', '0', 'sometimes', 'auto:9']) {
      assert.throws(() => loadConfig({ cwd: dir, env: { GRIDLLM_SPECULATE: bad } }), invalid(/GRIDLLM_SPECULATE must be off, auto, auto:<n> or a whole number from 1 to 8/))
    }
  })

  test('file < environment < flags, key by key', () => {
    file({ port: 1000, host: '0.0.0.0', maxQueue: 3, apiKey: 'from-file' })
    const env = { GRIDLLM_PORT: '2000', GRIDLLM_MAX_QUEUE: '5' }
    const flags = { port: '3000' }
    const c = loadConfig({ cwd: dir, env, flags })
    assert.equal(c.port, 3000, 'the flag wins')
    assert.equal(c.maxQueue, 5, 'the environment beats the file')
    assert.equal(c.host, '0.0.0.0', 'the file beats the default')
    assert.equal(c.apiKey, 'from-file')
    assert.equal(loadConfig({ cwd: dir, env }).port, 2000)
    assert.equal(loadConfig({ cwd: dir }).port, 1000)
    assert.equal(loadConfig({ cwd: dir, env: { GRIDLLM_PORT: '' } }).port, 1000, 'an empty variable is unset')
  })

  test('lists: an array in the file, comma/space separated in the environment, repeated flags', () => {
    file({ bootstrap: ['/ip4/1.2.3.4/tcp/1'] })
    assert.deepEqual(loadConfig({ cwd: dir }).bootstrap, ['/ip4/1.2.3.4/tcp/1'])
    assert.deepEqual(loadConfig({ cwd: dir, env: { GRIDLLM_BOOTSTRAP: '/a, /b /c' } }).bootstrap, ['/a', '/b', '/c'])
    assert.deepEqual(loadConfig({ cwd: dir, flags: { bootstrap: ['/x', '/y'] } }).bootstrap, ['/x', '/y'])
  })

  test('--config and GRIDLLM_CONFIG name a file that must exist; model paths are relative to it', () => {
    const other = file({ model: 'models/m.gguf', port: 9 }, 'other.json')
    assert.equal(loadConfig({ cwd: '/', configFile: other }).port, 9)
    assert.equal(loadConfig({ cwd: '/', configFile: other }).model, join(dir, 'models/m.gguf'))
    assert.equal(loadConfig({ cwd: '/', env: { GRIDLLM_CONFIG: other } }).port, 9)
    assert.throws(() => loadConfig({ cwd: dir, configFile: 'missing.json' }), invalid(/cannot read the config file .*missing\.json/))
  })

  test('bad values name their source', () => {
    file({})
    assert.throws(() => loadConfig({ cwd: dir, flags: { port: '80x' } }), invalid(/^--port must be an integer from 0 to 65535, got "80x"/))
    assert.throws(() => loadConfig({ cwd: dir, env: { GRIDLLM_MAX_CONCURRENCY: '0' } }), invalid(/^GRIDLLM_MAX_CONCURRENCY must be an integer from 1/))
    assert.throws(() => loadConfig({ cwd: dir, env: { GRIDLLM_API: 'localhost:8080' } }), invalid(/GRIDLLM_API must be an http/))
    assert.throws(() => loadConfig({ cwd: dir, flags: { backend: 'cuda' } }), invalid(/--backend must be one of auto/))
    file({ port: '8080' })
    assert.throws(() => loadConfig({ cwd: dir }), invalid(/"port" must be an integer/), 'the file takes JSON numbers')
  })

  test('a malformed file: not JSON, not an object, unknown keys', () => {
    file('{ port: 1 }')
    assert.throws(() => loadConfig({ cwd: dir }), invalid(/not valid JSON/))
    file([1])
    assert.throws(() => loadConfig({ cwd: dir }), invalid(/must hold a JSON object/))
    file({ prot: 1 })
    assert.throws(() => loadConfig({ cwd: dir }), invalid(/unknown key "prot" \(known: model, host, port/))
  })
})

// Runs every *.test.ts under src/ and test/ with node:test through tsx.
// Usage: node scripts/test.mjs [substring filter ...]
import { mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, relative } from 'node:path'
import { spawnSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'

const root = fileURLToPath(new URL('..', import.meta.url))

function walk (dir, out) {
  for (const name of readdirSync(dir)) {
    if (name === 'node_modules' || name.startsWith('.')) continue
    const path = join(dir, name)
    if (statSync(path).isDirectory()) walk(path, out)
    else if (name.endsWith('.test.ts')) out.push(relative(root, path))
  }
  return out
}

const filters = process.argv.slice(2)
const files = [...walk(join(root, 'src'), []), ...walk(join(root, 'test'), [])]
  .filter(f => filters.length === 0 || filters.some(s => f.includes(s)))
  .sort()
if (files.length === 0) {
  console.error('no test files matched', filters)
  process.exit(1)
}
const args = ['--import', './bin/polyfill.mjs', '--import', 'tsx', '--test', '--test-reporter', 'spec', ...files]
// every gridllm a test starts keeps its data (keys, ledgers) under HOME: a fresh one, never the real home
const home = mkdtempSync(join(tmpdir(), 'gridllm-test-home-'))
const res = spawnSync(process.execPath, args, { cwd: root, stdio: 'inherit', env: { ...process.env, HOME: home } })
rmSync(home, { recursive: true, force: true })
process.exit(res.status ?? 1)

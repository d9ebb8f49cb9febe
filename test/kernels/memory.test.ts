/**
 * Weights stay quantized: loading a 135M-shaped Q8_0 model must add no more than 1.15 × the file
 * size + 16 MiB (the tokenizer, the manifest being hashed, bookkeeping: not weights) to the RSS of
 * the runtime itself (Node, the TypeScript loader and our modules: about 100 MiB, up to 160 MiB
 * while tsx compiles a fresh checkout; measured in the same child before it loads). The child does
 * nothing but load.
 */
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { mkdtempSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { after, it } from 'node:test'
import { SHAPE_135M, writeSyntheticGguf } from '../../src/model/synthetic.ts'

const root = fileURLToPath(new URL('../..', import.meta.url))
const dir = mkdtempSync(join(tmpdir(), 'gridllm-rss-'))
after(() => rmSync(dir, { recursive: true, force: true }))

it('loads a 135M-shaped Q8_0 model within 1.15 × its size + 16 MiB over the runtime\'s own RSS', () => {
  const path = join(dir, '135M-q8_0.gguf')
  writeSyntheticGguf(path, SHAPE_135M, { dtype: 'q8_0' })
  const size = statSync(path).size
  const r = spawnSync(process.execPath, ['--import', './bin/polyfill.mjs', '--import', 'tsx', 'test/kernels/load-rss.ts', path, '1'],
    { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] })
  assert.equal(r.status, 0)
  const { baseRssBytes, maxRssBytes } = JSON.parse(r.stdout) as { baseRssBytes: number, maxRssBytes: number }
  assert.ok(baseRssBytes < 224 * 2 ** 20, `the runtime alone takes ${(baseRssBytes / 2 ** 20).toFixed(1)} MiB`)
  const budget = baseRssBytes + 1.15 * size + 16 * 2 ** 20
  assert.ok(maxRssBytes <= budget, `peak RSS ${(maxRssBytes / 2 ** 20).toFixed(1)} MiB > budget ${(budget / 2 ** 20).toFixed(1)} MiB (runtime ${(baseRssBytes / 2 ** 20).toFixed(1)} MiB) for a ${(size / 2 ** 20).toFixed(1)} MiB file`)
})

import { test } from 'node:test'
import assert from 'node:assert/strict'
import { StopMatcher } from './stop.ts'

function run (stops: string[], pieces: string[]): { out: string[], stopped: boolean, rest: string } {
  const m = new StopMatcher(stops)
  const out = pieces.map(p => m.push(p))
  return { out, stopped: m.stopped, rest: m.flush() }
}

test('a stop string split across pieces is never emitted', () => {
  const r = run(['\n\n'], ['Hello', '\n', '\n', 'World'])
  assert.deepEqual(r.out, ['Hello', '', '', ''])
  assert.equal(r.stopped, true)
  assert.equal(r.rest, '')
})

test('held-back text is released when it turns out not to be a stop', () => {
  const r = run(['END'], ['a E', 'N', 'x b'])
  assert.deepEqual(r.out, ['a ', '', 'ENx b'])
  assert.equal(r.stopped, false)
})

test('text before the stop string in the same piece is kept; the earliest stop wins', () => {
  assert.deepEqual(run(['b', 'a'], ['xyab']).out, ['xy'])
  assert.deepEqual(run(['</s>'], ['one</s>two']).out, ['one'])
})

test('flush releases a pending prefix at the end', () => {
  const r = run(['###'], ['done #'])
  assert.deepEqual(r.out, ['done '])
  assert.equal(r.rest, '#')
})

test('no stop strings: everything passes through', () => {
  assert.deepEqual(run([], ['a', 'b']).out, ['a', 'b'])
})

import assert from 'node:assert/strict'
import { test } from 'node:test'
import { swarmKeyHint } from './node.ts'

test('a failed dial says what it likely means: a private swarm, another key, or a wrong address', () => {
  for (const message of ['Message length length too long - 4 > 2', 'Missing newline', 'read ECONNRESET', 'Unexpected EOF - stream closed while reading 23/76 bytes']) {
    assert.match(swarmKeyHint(new Error(message), false), /private swarm: pass the swarm's key with --swarm-key/, message)
    assert.match(swarmKeyHint(new Error(message), true), /another key, or to a public one/, message)
  }
  assert.match(swarmKeyHint(new Error('The operation was aborted due to timeout'), false), /if the swarm is private, pass its key with --swarm-key/)
  assert.equal(swarmKeyHint(new Error('connect ECONNREFUSED 127.0.0.1:4001'), false), '')
})

import { test } from 'node:test'
import assert from 'node:assert/strict'
import { toHex } from './bytes.ts'
import * as browser from './sha256.browser.ts'
import * as node from './sha256.ts'

test('the browser SHA-256 equals node:crypto\'s, whole and streamed', () => {
  const data = Uint8Array.from({ length: 100_003 }, (_, i) => (i * 31) & 0xff)
  assert.equal(toHex(browser.sha256(data)), toHex(node.sha256(data)))
  const [a, b] = [browser.sha256Stream(), node.sha256Stream()]
  for (let at = 0; at < data.length; at += 7919) { a.update(data.subarray(at, at + 7919)); b.update(data.subarray(at, at + 7919)) }
  assert.equal(toHex(a.digest()), toHex(b.digest()))
  assert.equal(toHex(node.sha256(new Uint8Array(0))), 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855')
})

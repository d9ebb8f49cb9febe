import { test } from 'node:test'
import assert from 'node:assert/strict'
import { crc32 as browserCrc32 } from './crc32.browser.ts'
import { crc32 } from './crc32.ts'

test('the browser CRC-32 equals zlib\'s for every length and alignment', () => {
  const data = Uint8Array.from({ length: 4099 }, (_, i) => (i * 2654435761) >>> 24)
  for (const n of [0, 1, 7, 8, 9, 63, 64, 1000, 4099]) {
    for (const at of [0, 1, 3]) {
      const slice = data.subarray(at, Math.min(data.length, at + n))
      assert.equal(browserCrc32(slice), crc32(slice), `length ${slice.length} at ${at}`)
    }
  }
  assert.equal(browserCrc32(new TextEncoder().encode('123456789')), 0xcbf43926)
})

/** SHA-256 in the browser (@noble/hashes): the same exports as sha256.ts, synchronous like it. */
import { sha256 as noble } from '@noble/hashes/sha2.js'
import type { Sha256 } from './sha256.ts'

export type { Sha256 } from './sha256.ts'

export function sha256Stream (): Sha256 {
  const h = noble.create()
  const self: Sha256 = {
    update: data => { h.update(data); return self },
    digest: () => h.digest()
  }
  return self
}

export function sha256 (data: Uint8Array): Uint8Array {
  return noble(data)
}

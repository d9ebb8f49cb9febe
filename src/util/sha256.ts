/**
 * SHA-256 on Node (node:crypto, native speed). The browser build swaps in sha256.browser.ts, which
 * has the same exports (see web/build.mjs): the platform seam for hashing.
 */
import { createHash } from 'node:crypto'

export interface Sha256 {
  update (data: Uint8Array): Sha256
  /** the 32-byte digest; the hasher is spent afterwards */
  digest (): Uint8Array
}

/** An incremental hasher. */
export function sha256Stream (): Sha256 {
  const h = createHash('sha256')
  const self: Sha256 = {
    update: data => { h.update(data); return self },
    digest: () => new Uint8Array(h.digest())
  }
  return self
}

export function sha256 (data: Uint8Array): Uint8Array {
  return new Uint8Array(createHash('sha256').update(data).digest())
}

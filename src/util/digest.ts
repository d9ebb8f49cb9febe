/** SHA-256 digests, hex encoded: the hash the swarm commits to, on every platform (sha256.ts is the seam). */
import { toHex } from './bytes.ts'
import { sha256Stream } from './sha256.ts'

export function sha256Hex (...parts: Uint8Array[]): string {
  const h = sha256Stream()
  for (const p of parts) h.update(p)
  return toHex(h.digest())
}

export { toHex }

/** The bytes of a hex string; none if it is not one (so a malformed signature simply fails to verify). */
export function fromHex (hex: string): Uint8Array {
  if (hex.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(hex)) return new Uint8Array(0)
  const out = new Uint8Array(hex.length / 2)
  for (let i = 0; i < out.length; i++) out[i] = parseInt(hex.slice(2 * i, 2 * i + 2), 16)
  return out
}

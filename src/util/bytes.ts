/** Small helpers that work the same on Node and in browsers (no Buffer, no node:crypto). */

const HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'))

export function toHex (bytes: Uint8Array): string {
  let s = ''
  for (let i = 0; i < bytes.length; i++) s += HEX[bytes[i]!]
  return s
}

export function utf8Length (s: string): number {
  return encoder.encode(s).byteLength
}

const encoder = new TextEncoder()

/** A random id (UUID v4 form) from crypto.getRandomValues, which every context has (randomUUID needs a secure one). */
export function randomId (): string {
  const b = crypto.getRandomValues(new Uint8Array(16))
  b[6] = (b[6]! & 0x0f) | 0x40
  b[8] = (b[8]! & 0x3f) | 0x80
  const h = toHex(b)
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`
}

/** Lets a timer not keep Node's process alive; browsers' timers are numbers and never do. */
export function unref<T> (timer: T): T {
  (timer as { unref?: () => void }).unref?.()
  return timer
}

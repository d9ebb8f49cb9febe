/**
 * Allocation inside the backend's WebAssembly.Memory: first fit over a free list kept sorted by
 * address, neighbours merged on release, growing the memory when nothing fits. Every block is
 * 64-byte aligned (cache lines, SIMD loads). Page 0 stays unused so offset 0 is never valid.
 */
import { GridError } from '../../util/errors.ts'

const ALIGN = 64
const PAGE = 65536

export class OutOfMemoryError extends GridError {
  constructor (message: string) {
    super('OUT_OF_MEMORY', message)
    this.name = 'OutOfMemoryError'
  }
}

interface Span { start: number, size: number }

export class Heap {
  private readonly free: Span[] = [] // sorted by start, never adjacent
  private top = PAGE // start of the bump region: nothing at or above it is in use
  private highWater = PAGE // nothing at or above it was ever handed out: still zero from memory.grow
  private used = 0

  constructor (private readonly memory: WebAssembly.Memory, private readonly maxBytes = 65536 * PAGE) {}

  /** Bytes in live blocks. */
  get usedBytes (): number {
    return this.used
  }

  alloc (bytes: number): number {
    const size = Math.max(ALIGN, Math.ceil(bytes / ALIGN) * ALIGN)
    for (let i = 0; i < this.free.length; i++) {
      const span = this.free[i]!
      if (span.size < size) continue
      const ptr = span.start
      if (span.size === size) this.free.splice(i, 1)
      else { span.start += size; span.size -= size }
      this.used += size
      return ptr
    }
    const ptr = this.top
    this.ensure(ptr + size)
    this.top = ptr + size
    this.highWater = Math.max(this.highWater, this.top)
    this.used += size
    return ptr
  }

  /** A block of zeros; only the part that was handed out before is cleared (fresh pages stay untouched). */
  allocZeroed (bytes: number): number {
    const fresh = this.highWater
    const ptr = this.alloc(bytes)
    if (ptr < fresh) new Uint8Array(this.memory.buffer).fill(0, ptr, Math.min(ptr + bytes, fresh))
    return ptr
  }

  release (ptr: number, bytes: number): void {
    const size = Math.max(ALIGN, Math.ceil(bytes / ALIGN) * ALIGN)
    this.used -= size
    let i = 0
    while (i < this.free.length && this.free[i]!.start < ptr) i++
    this.free.splice(i, 0, { start: ptr, size })
    // merge with the next, then the previous span
    const next = this.free[i + 1]
    if (next !== undefined && ptr + size === next.start) { this.free[i]!.size += next.size; this.free.splice(i + 1, 1) }
    const prev = this.free[i - 1]
    if (prev !== undefined && prev.start + prev.size === ptr) { prev.size += this.free[i]!.size; this.free.splice(i, 1); i-- }
    // a free span at the top goes back to the bump region
    const last = this.free[this.free.length - 1]!
    if (last.start + last.size === this.top) { this.top = last.start; this.free.pop() }
  }

  private ensure (end: number): void {
    if (end > this.maxBytes) throw new OutOfMemoryError(`the WebAssembly memory cannot grow to ${end} bytes (limit ${this.maxBytes})`)
    const have = this.memory.buffer.byteLength
    if (end <= have) return
    // grow by at least an eighth to keep the number of grows small; untouched pages cost no RAM
    const want = Math.min(this.maxBytes, Math.max(end, have + Math.floor(have / 8)))
    this.memory.grow(Math.ceil((want - have) / PAGE))
  }
}

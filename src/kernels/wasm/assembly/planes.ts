// Quantized weights live in memory as GGUF's bytes split into planes: each field of the block
// (scale, high bits, quants, ...) is stored for every block of the tensor, row-major, before the
// next field. A plane's fields are then contiguous and 16-byte aligned where their size allows,
// which GGUF's packed blocks are not (34, 22, 210 bytes). Kinds are GGML type ids.

export const F32: i32 = 0
export const F16: i32 = 1
export const Q4_0: i32 = 2
export const Q5_0: i32 = 6
export const Q5_1: i32 = 7
export const Q8_0: i32 = 8
export const Q3_K: i32 = 11
export const Q4_K: i32 = 12
export const Q5_K: i32 = 13
export const Q6_K: i32 = 14
export const BF16: i32 = 30

/** Bytes of field f (0-based, in GGUF's order) in one block of `kind`; 0 past the last field. */
export function fieldBytes (kind: i32, f: i32): usize {
  switch (kind) {
    case Q8_0: return f == 0 ? 2 : f == 1 ? 32 : 0 // d, qs
    case Q4_0: return f == 0 ? 2 : f == 1 ? 16 : 0 // d, qs
    case Q5_0: return f == 0 ? 2 : f == 1 ? 4 : f == 2 ? 16 : 0 // d, qh, qs
    case Q5_1: return f == 0 ? 4 : f == 1 ? 4 : f == 2 ? 16 : 0 // d and m, qh, qs
    case Q3_K: return f == 0 ? 32 : f == 1 ? 64 : f == 2 ? 12 : f == 3 ? 2 : 0 // hmask, qs, scales, d
    case Q4_K: return f == 0 ? 4 : f == 1 ? 12 : f == 2 ? 128 : 0 // d and dmin, scales, qs
    case Q5_K: return f == 0 ? 4 : f == 1 ? 12 : f == 2 ? 32 : f == 3 ? 128 : 0 // d and dmin, scales, qh, qs
    case Q6_K: return f == 0 ? 128 : f == 1 ? 64 : f == 2 ? 16 : f == 3 ? 2 : 0 // ql, qh, scales, d
  }
  return 0
}

/** Start of field f's plane in a tensor of `blocks` blocks at w. */
@inline export function plane (w: usize, kind: i32, blocks: usize, f: i32): usize {
  let p = w
  for (let g = 0; g < f; g++) p += blocks * fieldBytes(kind, g)
  return p
}

/**
 * Copies `count` GGUF blocks of `kind` at src (consecutive, as in the file) into the planes of the
 * tensor at w, which holds `blocks` blocks in all, as its blocks [first, first + count).
 */
export function packPlanes (w: usize, src: usize, kind: i32, blocks: usize, first: usize, count: usize): void {
  let offset: usize = 0
  for (let f = 0; fieldBytes(kind, f) != 0; f++) {
    const size = fieldBytes(kind, f)
    const dst = plane(w, kind, blocks, f) + first * size
    let blockBytes: usize = 0
    for (let g = 0; fieldBytes(kind, g) != 0; g++) blockBytes += fieldBytes(kind, g)
    for (let b: usize = 0; b < count; b++) memory.copy(dst + b * size, src + b * blockBytes + offset, size)
    offset += size
  }
}

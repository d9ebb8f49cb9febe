/**
 * The messages between a tab's page and its span worker, which runs a ServedSpan (weights, KV
 * caches and the wasm kernels' threads) off the main thread: the page keeps the network, the
 * worker computes. Every request carries an id; every reply says how much cache is free.
 */
/** The kernels a span worker computes with: auto is webgpu on a hardware GPU, else wasm. */
export type SpanBackend = 'auto' | 'wasm' | 'webgpu'

export type SpanRequest =
  | { op: 'load', modelId: string, manifest: Uint8Array, name: string, start: number, end: number, threads: number, backend: SpanBackend, cacheBudgetBytes?: number }
  | { op: 'open', session: string, start: number, end: number, maxLength: number }
  | { op: 'forward', session: string, hidden: Float32Array, positions: number[] }
  | { op: 'rollback', session: string, position: number }
  | { op: 'close', session: string }
  | { op: 'benchmark', seconds: number }
  | { op: 'dispose' }

export type SpanReply = { id: number, freeCacheTokens: number } & (
  | { ok: true, result?: unknown }
  | { ok: false, code: string, message: string })

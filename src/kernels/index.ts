export type { Backend, Tensor, RopeStyle, RopeParams, AttentionParams } from './backend.ts'
export { rowLength, rowCount } from './backend.ts'
export { RefBackend } from './ref/index.ts'
export { createBackend, backendNames, type BackendName } from './registry.ts'

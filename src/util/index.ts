export * from './errors.ts'
export { logger, type Logger } from './log.ts'
export { toHex, utf8Length, randomId, unref } from './bytes.ts'
export { sha256, sha256Stream, type Sha256 } from './sha256.ts'

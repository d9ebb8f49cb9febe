export * from './errors.ts'
export { logger, type Logger } from './log.ts'

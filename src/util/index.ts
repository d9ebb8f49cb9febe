export * from './errors.ts'
export { logger, type Logger } from './log.ts'
export { deadline, withDeadline, sleep, type Deadline } from './timeout.ts'
export { FairQueue } from './fair-queue.ts'

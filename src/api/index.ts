export { createApi, serveApi, DEFAULT_MAX_CONCURRENCY, DEFAULT_MAX_QUEUE, type Api, type ApiOptions, type ApiServer, type ServeApiOptions } from './server.ts'
export { localEngine, deferredEngine, engineHealth, findModel, type Health, type Engine, type EngineStats, type ServedModel, type GenerationLike } from './engine.ts'
export { ERROR_STATUS, httpError } from './errors.ts'
export { Limiter, type LimiterOptions } from './limiter.ts'

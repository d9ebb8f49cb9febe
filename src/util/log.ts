import createDebug from 'debug'

export type Logger = createDebug.Debugger

/** A namespaced logger: `logger('model:gguf')` prints when DEBUG=gridllm:* (or gridllm:model:*). */
export function logger (namespace: string): Logger {
  return createDebug(`gridllm:${namespace}`)
}

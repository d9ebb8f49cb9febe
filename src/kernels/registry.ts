import { InvalidArgumentError } from '../util/errors.ts'
import type { Backend } from './backend.ts'
import { RefBackend } from './ref/index.ts'

export type BackendName = 'ref'

export const backendNames: readonly BackendName[] = ['ref']

export interface CreateBackendOptions {
  /** worker threads for backends that use them; default: the number of cores */
  threads?: number
}

/** Creates a backend by name; `auto` picks the fastest available. */
export async function createBackend (name: BackendName | 'auto' = 'auto', _options: CreateBackendOptions = {}): Promise<Backend> {
  switch (name) {
    case 'auto':
    case 'ref':
      return new RefBackend()
    default:
      throw new InvalidArgumentError(`unknown backend "${String(name)}" (available: ${backendNames.join(', ')})`)
  }
}

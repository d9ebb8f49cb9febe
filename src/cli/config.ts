/**
 * Configuration for the serving commands, resolved and validated once:
 * defaults < gridllm.config.json < environment (GRIDLLM_*) < flags.
 *
 * The file is `gridllm.config.json` in the working directory, or the one named by --config or
 * GRIDLLM_CONFIG (which must then exist). Its keys are the camelCase names below; unknown keys are
 * an error, so a typo never goes unnoticed; a model path in it is relative to the file. Errors name
 * where the bad value came from.
 */
import { readFileSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import { backendNames } from '../kernels/index.ts'
import { FRAME_DTYPES, type FrameDType } from '../tensor/index.ts'
import { ConfigError } from '../util/errors.ts'
import { VERIFY_MODES, type VerifyMode } from '../verify/index.ts'

export const CONFIG_FILE = 'gridllm.config.json'

export interface Config {
  /** model file or folder */
  model: string | undefined
  host: string
  port: number
  apiKey: string | undefined
  maxConcurrency: number
  maxQueue: number
  /** base URL of an API server (for `gridllm chat`) */
  api: string | undefined
  /** swarm peers to join (multiaddrs) */
  bootstrap: string[]
  /** private swarm key file */
  swarmKey: string | undefined
  backend: string
  threads: number | undefined
  /** verification of swarm work: off, sample (audits) or strict (every step twice) */
  verify: VerifyMode
  /** where a node keeps what lasts (its key and ledger, the reputation book); none: ~/.gridllm */
  dataDir: string | undefined
  /** origins allowed to call the API from a browser (CORS); undefined: localhost origins */
  cors: string[] | undefined
  /** host names the API answers without an API key, besides IP addresses and localhost */
  allowedHosts: string[]
  /** pay for swarm work from the data directory's account (on), or use only free servers (off) */
  credits: 'on' | 'off'
  /** speculative decoding: off, auto, auto:<n> (adaptive up to n) or a draft length */
  speculate: string
  /** a draft model's file (speculative decoding); none: n-gram drafting */
  draft: string | undefined
  /** how hidden states travel between the client and the swarm's servers: f32, f16 or i8 (a scale per row) */
  wire: FrameDType
}

export type ConfigKey = keyof Config
/** Raw flag values as util.parseArgs returns them. */
export type ConfigFlags = Partial<Record<ConfigKey, string | string[] | boolean | undefined>>

type Source = 'file' | 'env' | 'flag'

interface Spec<T> {
  env: string
  flag: string
  default: T
  /** raw value → typed value; `what` describes the expected value for errors */
  parse: (raw: unknown, from: Source) => T | typeof INVALID
  what: string
}

const INVALID = Symbol('invalid')

function text (raw: unknown): string | typeof INVALID {
  return typeof raw === 'string' && raw.trim() !== '' ? raw.trim() : INVALID
}

function integer (min: number, max: number) {
  return (raw: unknown, from: Source): number | typeof INVALID => {
    const n = from === 'file' ? raw : typeof raw === 'string' && raw.trim() !== '' ? Number(raw) : NaN
    return typeof n === 'number' && Number.isInteger(n) && n >= min && n <= max ? n : INVALID
  }
}

function url (raw: unknown): string | typeof INVALID {
  const s = text(raw)
  if (s === INVALID) return INVALID
  try {
    const u = new URL(s)
    return u.protocol === 'http:' || u.protocol === 'https:' ? s.replace(/\/+$/, '') : INVALID
  } catch {
    return INVALID
  }
}

/** One of `values`, with the description errors give. */
function oneOf<T extends string> (values: readonly T[]): Pick<Spec<T>, 'parse' | 'what'> {
  return { parse: raw => typeof raw === 'string' && (values as readonly string[]).includes(raw) ? raw as T : INVALID, what: `one of ${values.join(', ')}` }
}

/** A list: an array in the file, comma or space separated in the environment, repeated flags. */
function list (raw: unknown): string[] | typeof INVALID {
  const items = Array.isArray(raw) ? raw : [raw]
  if (!items.every(i => typeof i === 'string')) return INVALID
  return (items as string[]).flatMap(i => i.split(/[\s,]+/)).filter(i => i !== '')
}

const optional = <T>(parse: (raw: unknown, from: Source) => T | typeof INVALID) => parse as (raw: unknown, from: Source) => T | undefined | typeof INVALID

const SPECS: { [K in ConfigKey]: Spec<Config[K]> } = {
  model: { env: 'GRIDLLM_MODEL', flag: '--model', default: undefined, parse: optional(text), what: 'a path' },
  host: { env: 'GRIDLLM_HOST', flag: '--host', default: '127.0.0.1', parse: text, what: 'a host name or address' },
  port: { env: 'GRIDLLM_PORT', flag: '--port', default: 8080, parse: integer(0, 65535), what: 'an integer from 0 to 65535' },
  apiKey: { env: 'GRIDLLM_API_KEY', flag: '--api-key', default: undefined, parse: optional(text), what: 'a non-empty string' },
  maxConcurrency: { env: 'GRIDLLM_MAX_CONCURRENCY', flag: '--max-concurrency', default: 4, parse: integer(1, 1024), what: 'an integer from 1 to 1024' },
  maxQueue: { env: 'GRIDLLM_MAX_QUEUE', flag: '--max-queue', default: 512, parse: integer(0, 100_000), what: 'an integer from 0 to 100000' },
  api: { env: 'GRIDLLM_API', flag: '--api', default: undefined, parse: optional(url), what: 'an http:// or https:// URL' },
  bootstrap: { env: 'GRIDLLM_BOOTSTRAP', flag: '--bootstrap', default: [], parse: list, what: 'multiaddrs (a list)' },
  swarmKey: { env: 'GRIDLLM_SWARM_KEY', flag: '--swarm-key', default: undefined, parse: optional(text), what: 'a path' },
  backend: { env: 'GRIDLLM_BACKEND', flag: '--backend', default: 'auto', ...oneOf<string>(['auto', ...backendNames]) },
  threads: { env: 'GRIDLLM_THREADS', flag: '--threads', default: undefined, parse: optional(integer(1, 256)), what: 'an integer from 1 to 256' },
  verify: { env: 'GRIDLLM_VERIFY', flag: '--verify', default: 'sample', ...oneOf<VerifyMode>(VERIFY_MODES) },
  dataDir: { env: 'GRIDLLM_DATA_DIR', flag: '--data-dir', default: undefined, parse: optional(text), what: 'a path' },
  cors: { env: 'GRIDLLM_CORS', flag: '--cors', default: undefined, parse: optional(list), what: 'origins (a list), or *' },
  allowedHosts: { env: 'GRIDLLM_ALLOWED_HOSTS', flag: '--allowed-hosts', default: [], parse: list, what: 'host names (a list), or *' },
  credits: { env: 'GRIDLLM_CREDITS', flag: '--credits', default: 'on', parse: raw => raw === 'on' || raw === 'off' ? raw : INVALID, what: 'on or off' },
  speculate: {
    env: 'GRIDLLM_SPECULATE',
    flag: '--speculate',
    default: 'auto',
    parse: raw => typeof raw === 'string' && /^(off|auto|auto:[1-8]|[1-8])$/.test(raw) ? raw : typeof raw === 'number' && Number.isInteger(raw) && raw >= 1 && raw <= 8 ? String(raw) : INVALID,
    what: 'off, auto, auto:<n> or a whole number from 1 to 8'
  },
  draft: { env: 'GRIDLLM_DRAFT', flag: '--draft', default: undefined, parse: optional(text), what: 'a path' },
  wire: { env: 'GRIDLLM_WIRE', flag: '--wire', default: 'f32', ...oneOf<FrameDType>(FRAME_DTYPES) }
}

export const CONFIG_KEYS = Object.keys(SPECS) as ConfigKey[]

export interface LoadConfigOptions {
  flags?: ConfigFlags
  /** --config: a config file that must exist */
  configFile?: string
  env?: NodeJS.ProcessEnv
  /** where gridllm.config.json is looked for */
  cwd: string
}

function readFile (path: string, required: boolean): Record<string, unknown> {
  let text: string
  try {
    text = readFileSync(path, 'utf8')
  } catch (err) {
    if (!required && (err as NodeJS.ErrnoException).code === 'ENOENT') return {}
    throw new ConfigError(`cannot read the config file ${path}: ${(err as Error).message}`, { cause: err })
  }
  let json: unknown
  try {
    json = JSON.parse(text)
  } catch (err) {
    throw new ConfigError(`${path} is not valid JSON: ${(err as Error).message}`, { cause: err })
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) throw new ConfigError(`${path} must hold a JSON object`)
  const unknown = Object.keys(json).filter(k => !(k in SPECS))
  if (unknown.length > 0) throw new ConfigError(`${path}: unknown key${unknown.length > 1 ? 's' : ''} ${unknown.map(k => `"${k}"`).join(', ')} (known: ${CONFIG_KEYS.join(', ')})`)
  return json as Record<string, unknown>
}

/** Resolves every key: defaults < file < environment < flags. Throws ConfigError naming the bad source. */
export function loadConfig (options: LoadConfigOptions): Config {
  const env = options.env ?? {}
  const explicit = options.configFile ?? (env.GRIDLLM_CONFIG !== undefined && env.GRIDLLM_CONFIG !== '' ? env.GRIDLLM_CONFIG : undefined)
  const path = explicit !== undefined ? resolve(options.cwd, explicit) : join(options.cwd, CONFIG_FILE)
  const file = readFile(path, explicit !== undefined)
  const config: Record<string, unknown> = {}
  for (const key of CONFIG_KEYS) {
    const spec = SPECS[key] as Spec<unknown>
    const layers: Array<[Source, unknown, string]> = [
      ['file', file[key], `${path}: "${key}"`],
      ['env', env[spec.env] === '' ? undefined : env[spec.env], spec.env],
      ['flag', options.flags?.[key], spec.flag]
    ]
    let value = spec.default
    for (const [from, raw, where] of layers) {
      if (raw === undefined || raw === null) continue
      const parsed = spec.parse(raw, from)
      if (parsed === INVALID) throw new ConfigError(`${where} must be ${spec.what}, got ${JSON.stringify(raw)}`)
      // paths in the file are relative to the file
      value = (key === 'model' || key === 'swarmKey' || key === 'dataDir' || key === 'draft') && from === 'file' ? resolve(dirname(path), parsed as string) : parsed
    }
    config[key] = value
  }
  return config as unknown as Config
}

/**
 * Reading a JSON request body field by field, with errors that name the field (OpenAI's `param`).
 * Every endpoint's validator builds on this and states its unsupported fields explicitly: a field
 * in that list is refused unless its value is the harmless default (e.g. `n: 1`), so a client never
 * silently gets something other than what it asked for. Fields nobody lists are ignored, like
 * vendor extras other servers accept. `null` counts as absent, as in OpenAI's API.
 */
import { InvalidArgumentError } from '../util/errors.ts'

/** field → whether its value is acceptable anyway (the default, which changes nothing) */
export type UnsupportedFields = Readonly<Record<string, (value: unknown) => boolean>>

export const never = (): boolean => false
export const isFalse = (v: unknown): boolean => v === false
export const isZero = (v: unknown): boolean => v === 0
export const isEmptyArray = (v: unknown): boolean => Array.isArray(v) && v.length === 0
export const isEmptyString = (v: unknown): boolean => v === ''

interface NumberRule {
  min?: number
  max?: number
  integer?: boolean
}

export class Fields {
  private readonly body: Record<string, unknown>

  constructor (body: unknown, unsupported: UnsupportedFields, private readonly prefix = '') {
    if (typeof body !== 'object' || body === null || Array.isArray(body)) {
      throw new InvalidArgumentError(prefix === '' ? 'the request body must be a JSON object' : `${prefix} must be an object`, { param: prefix || undefined })
    }
    this.body = body as Record<string, unknown>
    for (const [name, acceptable] of Object.entries(unsupported)) {
      const value = this.body[name]
      if (value !== undefined && value !== null && !acceptable(value)) {
        throw new InvalidArgumentError(`${this.param(name)}: not supported by this server`, { param: this.param(name) })
      }
    }
  }

  param (name: string): string {
    return this.prefix === '' ? name : `${this.prefix}.${name}`
  }

  private fail (name: string, what: string, value: unknown): never {
    const shown = JSON.stringify(value)
    throw new InvalidArgumentError(`${this.param(name)} must be ${what}, got ${shown === undefined ? String(value) : shown.slice(0, 80)}`, { param: this.param(name) })
  }

  raw (name: string): unknown {
    const v = this.body[name]
    return v === null ? undefined : v
  }

  string (name: string): string | undefined {
    const v = this.raw(name)
    if (v !== undefined && typeof v !== 'string') this.fail(name, 'a string', v)
    return v
  }

  requiredString (name: string): string {
    const v = this.string(name)
    if (v === undefined || v === '') throw new InvalidArgumentError(`${this.param(name)} is required`, { param: this.param(name) })
    return v
  }

  boolean (name: string): boolean | undefined {
    const v = this.raw(name)
    if (v !== undefined && typeof v !== 'boolean') this.fail(name, 'true or false', v)
    return v
  }

  number (name: string, rule: NumberRule = {}): number | undefined {
    const v = this.raw(name)
    if (v === undefined) return undefined
    const { min = -Infinity, max = Infinity, integer = false } = rule
    if (typeof v !== 'number' || !Number.isFinite(v) || (integer && !Number.isInteger(v)) || v < min || v > max) {
      const range = min > -Infinity && max < Infinity ? ` from ${min} to ${max}` : min > -Infinity ? ` >= ${min}` : max < Infinity ? ` <= ${max}` : ''
      this.fail(name, `${integer ? 'an integer' : 'a number'}${range}`, v)
    }
    return v
  }

  /** A string or an array of at most `max` strings; empty strings are dropped. */
  strings (name: string, max: number): string[] | undefined {
    const v = this.raw(name)
    if (v === undefined) return undefined
    const list = typeof v === 'string' ? [v] : v
    if (!Array.isArray(list) || list.length > max || list.some(s => typeof s !== 'string')) {
      this.fail(name, `a string or an array of at most ${max} strings`, v)
    }
    return (list as string[]).filter(s => s !== '')
  }

  /** A nested object read with its own unsupported list. */
  object (name: string, unsupported: UnsupportedFields = {}): Fields | undefined {
    const v = this.raw(name)
    return v === undefined ? undefined : new Fields(v, unsupported, this.param(name))
  }

  array (name: string): unknown[] | undefined {
    const v = this.raw(name)
    if (v !== undefined && !Array.isArray(v)) this.fail(name, 'an array', v)
    return v
  }
}

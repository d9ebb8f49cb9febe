/** Small helpers of the schema compiler: enum values as JSON text, and refusal messages. */

/** JSON's type of a value, as JSON Schema names it. */
function typeOf (v: unknown): string {
  if (v === null) return 'null'
  if (Array.isArray(v)) return 'array'
  if (typeof v === 'number') return Number.isInteger(v) ? 'integer' : 'number'
  return typeof v
}

/** The JSON text of each value of `values` that has one of `types` (all, without types). */
export function literalTexts (values: readonly unknown[], types: readonly string[] | undefined): string[] {
  const fits = (v: unknown): boolean => {
    if (types === undefined) return true
    const t = typeOf(v)
    return types.includes(t) || (t === 'integer' && types.includes('number'))
  }
  return [...new Set(values.filter(fits).map(v => JSON.stringify(v)).filter((t): t is string => t !== undefined))]
}

/** "keyword format is not supported" / "keywords a, b are not supported". */
export function refusal (keywords: readonly string[], qualifier?: string): string {
  const what = keywords.length === 1 ? `keyword ${keywords[0]}` : `keywords ${keywords.join(', ')}`
  return `${what}${qualifier === undefined ? '' : ` ${qualifier}`} ${keywords.length === 1 ? 'is' : 'are'} not supported`
}

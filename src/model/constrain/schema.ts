/**
 * JSON Schema → grammar. The subset that structured-output APIs use: types (one or a list),
 * properties with required ones, additionalProperties, items with minItems/maxItems, strings with
 * minLength/maxLength, enum, const, anyOf, oneOf when its branches cannot overlap, local $ref and
 * nullable. Bounds on numbers are honoured where they can be exactly (none in effect, >= 0, a small
 * integer range). Annotations are ignored; any other keyword is refused, named with its place.
 */
import { InvalidArgumentError } from '../../util/errors.ts'
import { Grammar } from './constraint.ts'
import { type GrammarNode, type LiteralTrie, UNBOUNDED, anyValue, computeMins, node } from './nodes.ts'
import { literalTexts, refusal } from './schema-util.ts'

const ANNOTATIONS = new Set(['$schema', '$id', '$comment', 'title', 'description', 'default', 'examples', 'deprecated', 'readOnly', 'writeOnly', '$defs', 'definitions'])
const HANDLED = new Set(['type', 'properties', 'required', 'additionalProperties', 'items', 'minItems', 'maxItems', 'minLength', 'maxLength',
  'enum', 'const', 'anyOf', 'oneOf', '$ref', 'nullable', 'minimum', 'maximum', 'exclusiveMinimum', 'exclusiveMaximum'])
const TYPES = ['string', 'number', 'integer', 'boolean', 'null', 'object', 'array'] as const
type JsonType = typeof TYPES[number]
/** beyond this a bound cannot bind: numbers have at most 15 integer digits */
const HUGE = 1e15
const MAX_NODES = 10_000
const MAX_RANGE = 1000

type Schema = Record<string, unknown>

class Compiler {
  private nodes = 0
  private readonly refs = new Map<string, GrammarNode>()

  constructor (private readonly root: unknown, private readonly param: string | undefined) {}

  fail (message: string, at: string): never {
    throw new InvalidArgumentError(`${this.param === undefined ? 'schema' : this.param}: ${message}${at === '' ? '' : ` at ${at}`}`, { param: this.param })
  }

  compile (schema: unknown, at: string): GrammarNode {
    if (++this.nodes > MAX_NODES) this.fail(`more than ${MAX_NODES} subschemas`, at)
    if (schema === true) return anyValue()
    if (schema === false) this.fail('false (nothing matches) is not supported', at)
    if (typeof schema !== 'object' || schema === null || Array.isArray(schema)) this.fail('a schema must be an object', at)
    const s = schema as Schema
    const unknown = Object.keys(s).filter(k => !ANNOTATIONS.has(k) && !HANDLED.has(k))
    if (unknown.length > 0) this.fail(refusal(unknown), at)
    if (s.nullable === true) {
      const { nullable: _, ...rest } = s
      return node.anyOf([this.compile(rest, at), node.literal(['null'])])
    }
    if (s.$ref !== undefined) return this.ref(s, at)
    const types = this.types(s, at)
    if (s.const !== undefined || s.enum !== undefined) return this.literals(s, types, at)
    if (s.anyOf !== undefined || s.oneOf !== undefined) return this.union(s, types, at)
    const kinds = types ?? this.inferred(s)
    if (kinds === undefined) return anyValue()
    const options = kinds.map(t => this.typed(t, s, at))
    return options.length === 1 ? options[0]! : node.anyOf(options)
  }

  private types (s: Schema, at: string): JsonType[] | undefined {
    if (s.type === undefined) return undefined
    const list = Array.isArray(s.type) ? s.type : [s.type]
    if (list.length === 0 || list.some(t => !(TYPES as readonly unknown[]).includes(t))) this.fail(`type must be one of ${TYPES.join(', ')} or a list of them`, `${at}/type`)
    const types = list as JsonType[]
    // integer is a subset of number
    return types.includes('number') ? types.filter(t => t !== 'integer') : types
  }

  private inferred (s: Schema): JsonType[] | undefined {
    if (s.properties !== undefined || s.required !== undefined || s.additionalProperties !== undefined) return ['object']
    if (s.items !== undefined || s.minItems !== undefined || s.maxItems !== undefined) return ['array']
    if (s.minLength !== undefined || s.maxLength !== undefined) return ['string']
    if (s.minimum !== undefined || s.maximum !== undefined || s.exclusiveMinimum !== undefined || s.exclusiveMaximum !== undefined) return ['number']
    return undefined
  }

  private typed (t: JsonType, s: Schema, at: string): GrammarNode {
    switch (t) {
      case 'string': return node.string(this.count(s, 'minLength', at) ?? 0, this.count(s, 'maxLength', at) ?? UNBOUNDED)
      case 'number': case 'integer': return this.number(t === 'integer', s, at)
      case 'boolean': return node.literal(['true', 'false'])
      case 'null': return node.literal(['null'])
      case 'array': {
        if (Array.isArray(s.items)) this.fail('items as a list (tuples) is not supported', `${at}/items`)
        const min = this.count(s, 'minItems', at) ?? 0
        const max = this.count(s, 'maxItems', at) ?? UNBOUNDED
        if (max < min) this.fail('maxItems is below minItems', at)
        return node.array(s.items === undefined ? anyValue() : this.compile(s.items, `${at}/items`), min, max)
      }
      case 'object': return this.object(s, at)
    }
  }

  private count (s: Schema, key: string, at: string): number | undefined {
    const v = s[key]
    if (v === undefined) return undefined
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 0) this.fail(`${key} must be a non-negative integer`, `${at}/${key}`)
    return v
  }

  private number (integer: boolean, s: Schema, at: string): GrammarNode {
    const bound = (k: string): number | undefined => {
      const v = s[k]
      if (v !== undefined && (typeof v !== 'number' || !Number.isFinite(v))) this.fail(`${k} must be a number`, `${at}/${k}`)
      return v as number | undefined
    }
    const lo = Math.max(bound('minimum') ?? -Infinity, (bound('exclusiveMinimum') ?? -Infinity) + (integer ? 1 : 0))
    const hi = Math.min(bound('maximum') ?? Infinity, (bound('exclusiveMaximum') ?? Infinity) - (integer ? 1 : 0))
    const exclusive = (integer ? [] : ['exclusiveMinimum', 'exclusiveMaximum']).filter(k => s[k] !== undefined && Math.abs(s[k] as number) < HUGE)
    if (exclusive.length > 0) this.fail(refusal(exclusive, 'on a non-integer number'), at)
    if (integer && lo > -HUGE && hi < HUGE) {
      const from = Math.ceil(lo)
      const to = Math.floor(hi)
      if (to < from) this.fail('the integer range is empty', at)
      if (to - from <= MAX_RANGE) return node.literal(Array.from({ length: to - from + 1 }, (_, i) => String(from + i)))
    }
    if (hi < HUGE) this.fail(refusal(['maximum'], `below ${HUGE}`), at)
    if (lo <= -HUGE) return node.number(integer)
    if (lo === 0) return node.number(integer, true)
    return this.fail(refusal(['minimum'], 'other than 0'), at)
  }

  private object (s: Schema, at: string): GrammarNode {
    const props = s.properties ?? {}
    if (typeof props !== 'object' || props === null || Array.isArray(props)) this.fail('properties must be an object', `${at}/properties`)
    const required = s.required ?? []
    if (!Array.isArray(required) || required.some(r => typeof r !== 'string')) this.fail('required must be a list of names', `${at}/required`)
    const names = Object.keys(props)
    const missing = (required as string[]).filter(r => !names.includes(r))
    if (missing.length > 0) this.fail(`required names properties that are not declared: ${missing.join(', ')}`, `${at}/required`)
    const list = names.map(name => node.property(name, this.compile((props as Schema)[name], `${at}/properties/${name}`), (required as string[]).includes(name)))
    if (list.length > 0) return node.object(list)
    const extra = s.additionalProperties
    if (extra === false) return node.object([])
    return node.object([], extra === undefined || extra === true ? anyValue() : this.compile(extra, `${at}/additionalProperties`))
  }

  private literals (s: Schema, types: JsonType[] | undefined, at: string): GrammarNode {
    const values = s.const !== undefined ? [s.const] : s.enum
    if (!Array.isArray(values) || values.length === 0) this.fail('enum must be a non-empty list', `${at}/enum`)
    const texts = literalTexts(values, types)
    if (texts.length === 0) this.fail('no enum value has the declared type', at)
    return node.literal(texts)
  }

  private union (s: Schema, types: JsonType[] | undefined, at: string): GrammarNode {
    if (types !== undefined) this.fail('type beside anyOf/oneOf is not supported (put it in the branches)', at)
    const key = s.anyOf !== undefined ? 'anyOf' : 'oneOf'
    if (s.anyOf !== undefined && s.oneOf !== undefined) this.fail('anyOf and oneOf together are not supported', at)
    const branches = s[key]
    if (!Array.isArray(branches) || branches.length === 0) this.fail(`${key} must be a non-empty list`, `${at}/${key}`)
    const options = branches.map((b, i) => this.compile(b, `${at}/${key}/${i}`))
    if (key === 'oneOf' && !disjoint(options)) this.fail('oneOf whose branches may match the same value is not supported (use anyOf)', at)
    return options.length === 1 ? options[0]! : node.anyOf(options)
  }

  private ref (s: Schema, at: string): GrammarNode {
    const extra = Object.keys(s).filter(k => k !== '$ref' && !ANNOTATIONS.has(k))
    if (extra.length > 0) this.fail(refusal(extra, 'beside $ref'), at)
    const ref = s.$ref
    if (typeof ref !== 'string' || !ref.startsWith('#')) this.fail('only local $ref ("#/$defs/...") is supported', `${at}/$ref`)
    const known = this.refs.get(ref)
    if (known !== undefined) return known
    let target: unknown = this.root
    for (const part of ref.slice(1).split('/').filter(p => p !== '')) {
      const name = decodeURIComponent(part).replaceAll('~1', '/').replaceAll('~0', '~')
      target = typeof target === 'object' && target !== null ? (target as Schema)[name] : undefined
      if (target === undefined) this.fail(`$ref "${ref}" points nowhere`, at)
    }
    // a placeholder first, so a recursive reference finds it
    const placeholder = node.anyOf([])
    this.refs.set(ref, placeholder)
    placeholder.options.push(this.compile(target, ref))
    return placeholder
  }
}

/** Whether no value can match two of the options (told apart by first byte, literal values, or a required discriminator). */
function disjoint (options: GrammarNode[]): boolean {
  for (let i = 0; i < options.length; i++) {
    for (let j = i + 1; j < options.length; j++) if (!apart(options[i]!, options[j]!)) return false
  }
  return true
}

function apart (a: GrammarNode, b: GrammarNode): boolean {
  if (a.kind === 'anyOf') return a.options.every(o => apart(o, b))
  if (b.kind === 'anyOf') return b.options.every(o => apart(a, o))
  if (a.kind === 'literal' && b.kind === 'literal') return !sharesTerminal(a.trie, b.trie)
  if (a.kind === 'object' && b.kind === 'object') {
    return a.props.some(p => p.required && p.node.kind === 'literal' && b.props.some(q =>
      q.name === p.name && q.required && q.node.kind === 'literal' && !sharesTerminal((p.node as { trie: LiteralTrie }).trie, (q.node as { trie: LiteralTrie }).trie)))
  }
  const first = (n: GrammarNode): string => n.kind === 'literal' ? [...n.trie.children.keys()].map(c => String.fromCharCode(c)).join('') : FIRST[n.kind as keyof typeof FIRST]
  return ![...first(a)].some(c => first(b).includes(c))
}

const FIRST = { string: '"', number: '-0123456789', object: '{', array: '[' } as const

function sharesTerminal (a: LiteralTrie, b: LiteralTrie): boolean {
  if (a.terminal && b.terminal) return true
  for (const [byte, c] of a.children) {
    const d = b.children.get(byte)
    if (d !== undefined && sharesTerminal(c, d)) return true
  }
  return false
}

const compiled = new Map<string, Grammar>()

/**
 * The grammar of the values `schema` accepts; a 400 naming what it cannot honour. Grammars are kept
 * by schema text (the last 64), so repeated requests share their token masks.
 */
export function compileSchema (schema: unknown, param?: string): Grammar {
  const text = JSON.stringify(schema) ?? 'undefined'
  const hit = compiled.get(text)
  if (hit !== undefined) { compiled.delete(text); compiled.set(text, hit); return hit }
  const root = new Compiler(schema, param).compile(schema, '')
  computeMins(root)
  if (root.min >= UNBOUNDED) throw new InvalidArgumentError(`${param ?? 'schema'}: no finite value matches it (a required property refers back to itself)`, { param })
  const grammar = new Grammar(root)
  compiled.set(text, grammar)
  if (compiled.size > 64) compiled.delete(compiled.keys().next().value!)
  return grammar
}

let jsonObject: Grammar | undefined

/** JSON mode: any JSON object. */
export function jsonObjectGrammar (): Grammar {
  if (jsonObject === undefined) {
    const root = node.object([], anyValue())
    computeMins(root)
    jsonObject = new Grammar(root)
  }
  return jsonObject
}

/**
 * What a request's output must look like, for every protocol: a JSON mode or schema (OpenAI's
 * response_format and text.format, Ollama's format) becomes a grammar for constrained decoding,
 * and tools with their tool_choice become a tool mode (and, for a forced call, the grammar of a
 * call to one of them).
 */
import { type Grammar, type ToolSpec, compileSchema, jsonObjectGrammar, toolCallSchema } from '../model/index.ts'
import { InvalidArgumentError } from '../util/errors.ts'
import { Fields } from './fields.ts'
import type { ToolMode } from './reply.ts'

/** none, auto, required (some call), or one function by name. */
export type ToolChoice = 'none' | 'auto' | 'required' | { readonly name: string }

export type OutputFormat = { readonly type: 'text' } | { readonly type: 'json_object' } | { readonly type: 'json_schema', readonly schema: unknown, readonly param: string }

export interface OutputPlan {
  /** tools for the chat template */
  readonly tools: readonly ToolSpec[]
  readonly mode: ToolMode
  /** the names that may be called */
  readonly known: ReadonlySet<string>
  readonly grammar: Grammar | undefined
}

export function formatGrammar (format: OutputFormat | undefined): Grammar | undefined {
  if (format === undefined || format.type === 'text') return undefined
  if (format.type === 'json_object') return jsonObjectGrammar()
  return compileSchema(format.schema, format.param)
}

/** The plan for tools and format together; a forced call's grammar takes the place of the format's. */
export function outputPlan (tools: readonly ToolSpec[], choice: ToolChoice | undefined, format: OutputFormat | undefined, param = 'tool_choice'): OutputPlan {
  const known = new Set(tools.map(t => t.name))
  const effective = choice ?? (tools.length > 0 ? 'auto' : 'none')
  if (effective !== 'none' && tools.length === 0) throw new InvalidArgumentError(`${param} needs tools to choose from`, { param })
  if (effective === 'none' || effective === 'auto') {
    return { tools, mode: effective === 'auto' ? 'auto' : 'none', known, grammar: formatGrammar(format) }
  }
  const callable = effective === 'required' ? tools : tools.filter(t => t.name === effective.name)
  if (callable.length === 0) throw new InvalidArgumentError(`${param} names "${(effective as { name: string }).name}", which is not among the tools`, { param })
  return { tools, mode: 'forced', known, grammar: compileSchema(toolCallSchema(callable), 'tools') }
}

/** OpenAI's tool_choice: "none" | "auto" | "required" | {type: "function", function: {name}} (Responses: {type: "function", name}). */
export function readToolChoice (f: Fields, key = 'tool_choice'): ToolChoice | undefined {
  const v = f.raw(key)
  if (v === undefined) return undefined
  if (v === 'none' || v === 'auto' || v === 'required') return v
  if (typeof v === 'object' && v !== null) {
    const o = new Fields(v, {}, f.param(key))
    if (o.string('type') === 'function') {
      const name = o.object('function')?.string('name') ?? o.string('name')
      if (name !== undefined && name !== '') return { name }
    }
  }
  throw new InvalidArgumentError(`${f.param(key)} must be "none", "auto", "required" or {"type": "function", "function": {"name": ...}}`, { param: f.param(key) })
}

/** A tool definition: OpenAI chat's {type, function: {name, description, parameters}} or the flat Responses form. */
export function readTool (value: unknown, at: string): ToolSpec {
  const f = new Fields(value, {}, at)
  if (f.string('type') !== 'function') throw new InvalidArgumentError(`${at}.type: only "function" tools are supported`, { param: `${at}.type` })
  const fn = f.object('function') ?? f
  const name = fn.requiredString('name')
  if (!/^[A-Za-z0-9_.-]{1,64}$/.test(name)) throw new InvalidArgumentError(`${fn.param('name')} must be 1-64 letters, digits, _ . or -`, { param: fn.param('name') })
  const parameters = fn.raw('parameters')
  if (parameters !== undefined && (typeof parameters !== 'object' || Array.isArray(parameters))) {
    throw new InvalidArgumentError(`${fn.param('parameters')} must be a JSON schema object`, { param: fn.param('parameters') })
  }
  // refused early, with the field named, rather than at the first forced call
  if (parameters !== undefined) compileSchema({ type: 'object', ...(parameters as object) }, fn.param('parameters'))
  return { name, description: fn.string('description'), parameters: parameters as Record<string, unknown> | undefined }
}

export function readTools (f: Fields, key = 'tools'): ToolSpec[] {
  const list = (f.array(key) ?? []).map((t, i) => readTool(t, `${f.param(key)}[${i}]`))
  const names = list.map(t => t.name)
  const twice = names.find((n, i) => names.indexOf(n) !== i)
  if (twice !== undefined) throw new InvalidArgumentError(`${f.param(key)}: "${twice}" is defined twice`, { param: f.param(key) })
  return list
}

/** OpenAI chat's response_format: {type: text | json_object | json_schema, json_schema: {name, schema, strict}}. */
export function readResponseFormat (f: Fields, key = 'response_format'): OutputFormat | undefined {
  const o = f.object(key)
  if (o === undefined) return undefined
  const type = o.string('type')
  if (type === 'text' || type === 'json_object') return { type }
  if (type === 'json_schema') {
    const js = o.object('json_schema') ?? o // chat nests it; Responses' text.format is flat
    const schema = js.raw('schema')
    if (schema === undefined) throw new InvalidArgumentError(`${js.param('schema')} is required`, { param: js.param('schema') })
    return { type, schema, param: js.param('schema') }
  }
  throw new InvalidArgumentError(`${o.param('type')} must be "text", "json_object" or "json_schema"`, { param: o.param('type') })
}

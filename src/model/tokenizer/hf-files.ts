/** Reads a Hugging Face folder's tokenizer.json, tokenizer_config.json and chat template. */
import { existsSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { FileNotFoundError } from '../../util/errors.ts'
import { readJsonFile, readTextFile } from '../files.ts'
import type { HfTokenizerData } from '../source.ts'

type Json = Record<string, unknown>

function json (path: string): Json | undefined {
  return existsSync(path) ? readJsonFile(path) : undefined
}

/** A special token named in tokenizer_config.json (a string or `{ content }`) → its id. */
function tokenId (tokenizerJson: Json, value: unknown): number | undefined {
  const content = typeof value === 'string' ? value : (value as { content?: string } | null)?.content
  if (content === undefined) return undefined
  const added = (tokenizerJson.added_tokens ?? []) as Array<{ id: number, content: string }>
  const hit = added.find(t => t.content === content)
  if (hit !== undefined) return hit.id
  const vocab = ((tokenizerJson.model as Json | undefined)?.vocab ?? {}) as Record<string, number>
  return vocab[content]
}

function ids (value: unknown): number[] {
  if (typeof value === 'number') return [value]
  return Array.isArray(value) ? value.filter((v): v is number => typeof v === 'number') : []
}

/** Whether the tokenizer's post-processor puts a special token first (Llama 3 adds BOS this way). */
function postProcessorAddsBos (tokenizerJson: Json): boolean {
  const pp = tokenizerJson.post_processor as Json | null | undefined
  const procs = pp?.type === 'Sequence' ? (pp.processors as Json[]) : pp === null || pp === undefined ? [] : [pp]
  return procs.some(p => p.type === 'TemplateProcessing' && (p.single as Json[] | undefined)?.[0]?.SpecialToken !== undefined)
}

/** A tokenizer.json given on its own (its tokenizer_config.json, if any, sits beside it). */
export function hfTokenizerFile (path: string): HfTokenizerData {
  const data = hfTokenizerData(dirname(path), {}, path)
  if (data === undefined) throw new FileNotFoundError(path)
  return data.data
}

export function hfTokenizerData (dir: string, modelConfig: Json, tokenizerPath = join(dir, 'tokenizer.json')): { data: HfTokenizerData, chatTemplate: string | undefined } | undefined {
  const tokenizerJson = json(tokenizerPath)
  if (tokenizerJson === undefined) return undefined
  const tokenizerConfig = json(join(dir, 'tokenizer_config.json')) ?? {}
  const generation = json(join(dir, 'generation_config.json')) ?? {}
  const bos = tokenId(tokenizerJson, tokenizerConfig.bos_token) ?? ids(modelConfig.bos_token_id)[0]
  const eos = new Set([
    ...ids(generation.eos_token_id), ...ids(modelConfig.eos_token_id),
    ...[tokenId(tokenizerJson, tokenizerConfig.eos_token)].filter((v): v is number => v !== undefined)
  ])
  const addBos = typeof tokenizerConfig.add_bos_token === 'boolean' ? tokenizerConfig.add_bos_token : postProcessorAddsBos(tokenizerJson)
  // newer checkpoints keep the template in its own file, which takes precedence (as in transformers)
  const jinja = join(dir, 'chat_template.jinja')
  let chatTemplate = existsSync(jinja) ? readTextFile(jinja) : tokenizerConfig.chat_template as string | Array<{ name: string, template: string }> | undefined
  if (Array.isArray(chatTemplate)) chatTemplate = (chatTemplate.find(t => t.name === 'default') ?? chatTemplate[0])?.template
  return { data: { kind: 'hf', tokenizerJson, tokenizerConfig, bos, eos: [...eos], addBos }, chatTemplate }
}

/** POST /v1/embeddings: float or base64 vectors, batched inputs, token-id inputs; `dimensions` only as the model's own. */
import type { Context } from 'hono'
import { InvalidArgumentError } from '../../util/errors.ts'
import { type ApiContext, jsonBody } from '../context.ts'
import { embedInputs, readEmbedInput } from '../embed.ts'
import { findModel } from '../engine.ts'
import { Fields } from '../fields.ts'

export async function embeddings (c: Context, ctx: ApiContext): Promise<Response> {
  const f = new Fields(await jsonBody(c), {})
  const model = findModel(ctx.engine, f.requiredString('model'))
  const inputs = readEmbedInput(f.raw('input'))
  const format = f.string('encoding_format') ?? 'float'
  if (format !== 'float' && format !== 'base64') throw new InvalidArgumentError('encoding_format must be "float" or "base64"', { param: 'encoding_format' })
  const dimensions = f.number('dimensions', { min: 1, integer: true })
  if (dimensions !== undefined && dimensions !== model.config.dim) {
    throw new InvalidArgumentError(`dimensions: ${model.name} embeds in ${model.config.dim} dimensions only`, { param: 'dimensions' })
  }
  const { vectors, tokens } = await embedInputs(c, ctx, model, inputs)
  return c.json({
    object: 'list',
    data: vectors.map((v, index) => ({
      object: 'embedding',
      index,
      embedding: format === 'base64' ? Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('base64') : Array.from(v)
    })),
    model: model.name,
    usage: { prompt_tokens: tokens, total_tokens: tokens }
  })
}

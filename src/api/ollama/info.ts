/** Ollama's model and server information (tags, show, ps, version) and its embedding routes (embed, embeddings). */
import { Hono } from 'hono'
import type { ModelConfig } from '../../model/index.ts'
import { InvalidArgumentError } from '../../util/errors.ts'
import { type ApiContext, jsonBody } from '../context.ts'
import { embedInputs, readEmbedInput } from '../embed.ts'
import { type ServedModel, findModel } from '../engine.ts'
import { Fields } from '../fields.ts'
import type { OllamaTag } from './protocol.ts'

const STARTED = new Date().toISOString()

/** Parameters of a Llama-family model. */
function parameterCount (c: ModelConfig): number {
  const q = c.nHeads * c.headDim
  const kv = c.nKvHeads * c.headDim
  const perLayer = c.dim * (2 * q + 2 * kv) + 3 * c.dim * c.hiddenDim + 2 * c.dim
  return c.vocabSize * c.dim * (c.tiedEmbeddings ? 1 : 2) + c.nLayers * perLayer + c.dim
}

/** As Ollama writes it: "135M", "0.5B". */
function parameterSize (c: ModelConfig): string {
  const n = parameterCount(c)
  const [div, unit] = n >= 1e9 ? [1e9, 'B'] : n >= 1e6 ? [1e6, 'M'] : [1e3, 'K']
  return `${Number((n / div).toPrecision(n / div >= 100 ? 3 : 2))}${unit}`
}

function details (m: ServedModel): OllamaTag['details'] & Record<string, unknown> {
  return { parent_model: '', format: 'gguf', family: m.config.architecture, families: [m.config.architecture], parameter_size: parameterSize(m.config), quantization_level: '' }
}

function tag (m: ServedModel): OllamaTag {
  return { name: m.name, model: m.name, modified_at: STARTED, size: 0, digest: m.modelId, details: details(m) }
}

export function infoRoutes (ctx: ApiContext, version: string): Hono {
  const app = new Hono()

  app.get('/tags', c => c.json({ models: ctx.engine.models().map(tag) }))
  app.get('/version', c => c.json({ version }))

  // the models ready to generate: all of them (they stay loaded)
  app.get('/ps', c => c.json({
    models: ctx.engine.models().map(m => ({ ...tag(m), expires_at: '9999-12-31T23:59:59Z', size_vram: 0 }))
  }))

  app.post('/show', async c => {
    const f = new Fields(await jsonBody(c), {})
    const name = f.string('model') ?? f.string('name')
    if (name === undefined || name === '') throw new InvalidArgumentError('model is required', { param: 'model' })
    const m = findModel(ctx.engine, name)
    const cfg = m.config
    const arch = cfg.architecture
    const template = m.chatTemplate ?? ''
    return c.json({
      license: '',
      modelfile: `# served by gridllm\nFROM ${m.name}\n`,
      parameters: '',
      template,
      system: '',
      details: details(m),
      model_info: {
        'general.architecture': arch,
        'general.parameter_count': parameterCount(cfg),
        [`${arch}.context_length`]: cfg.contextLength,
        [`${arch}.embedding_length`]: cfg.dim,
        [`${arch}.block_count`]: cfg.nLayers,
        [`${arch}.feed_forward_length`]: cfg.hiddenDim,
        [`${arch}.attention.head_count`]: cfg.nHeads,
        [`${arch}.attention.head_count_kv`]: cfg.nKvHeads,
        [`${arch}.vocab_size`]: cfg.vocabSize
      },
      capabilities: ['completion', 'embedding', ...(template.includes('tools') ? ['tools'] : [])],
      modified_at: STARTED
    })
  })

  app.post('/embed', async c => {
    const start = performance.now()
    const f = new Fields(await jsonBody(c), { truncate: v => v === false || v === true })
    const m = findModel(ctx.engine, f.requiredString('model'))
    const dimensions = f.number('dimensions', { min: 1, integer: true })
    if (dimensions !== undefined && dimensions !== m.config.dim) {
      throw new InvalidArgumentError(`dimensions: ${m.name} embeds in ${m.config.dim} dimensions only`, { param: 'dimensions' })
    }
    const { vectors, tokens } = await embedInputs(c, ctx, m, readEmbedInput(f.raw('input')))
    const ns = Math.round((performance.now() - start) * 1e6)
    return c.json({ model: m.name, embeddings: vectors.map(v => Array.from(v)), total_duration: ns, load_duration: 0, prompt_eval_count: tokens })
  })

  // the older single-text form
  app.post('/embeddings', async c => {
    const f = new Fields(await jsonBody(c), {})
    const m = findModel(ctx.engine, f.requiredString('model'))
    const { vectors } = await embedInputs(c, ctx, m, readEmbedInput(f.requiredString('prompt'), 'prompt'))
    return c.json({ embedding: Array.from(vectors[0]!) })
  })

  return app
}

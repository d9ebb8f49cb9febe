/** Loading a local model for the serving commands, with a progress bar on stderr. */
import { basename } from 'node:path'
import { Model } from '../model/index.ts'
import type { CommandContext } from './command.ts'
import { DEFAULT_MODEL } from './command.ts'
import type { Config } from './config.ts'
import { progress } from './progress.ts'

/** The id a model file goes by in the API: its file name without the extension. */
export function modelName (path: string): string {
  return basename(path).replace(/\.(gguf|bin)$/i, '')
}

export async function loadModel (config: Config, ctx: CommandContext): Promise<{ model: Model, name: string }> {
  const path = config.model ?? DEFAULT_MODEL
  const name = modelName(path)
  const bar = progress(ctx.stderr, `loading ${name}`)
  const model = await Model.load(path, {
    backend: config.backend as 'auto',
    threads: config.threads,
    signal: ctx.signal,
    onProgress: (done, total) => bar.update(done, total)
  })
  bar.finish()
  return { model, name }
}

/**
 * ?run=golden: the swarm's model run whole in this tab on the chosen kernels (&backend=), greedy
 * from BOS, its text written into #output (data-done="1" at the end, data-backend the kernels
 * used). With the bundled model this is llama2.c's reference output: a check that this browser's
 * kernels compute the model right, WebGPU included.
 */
import { createBackend } from '../../src/kernels/index.ts'
import type { SpanBackend } from '../node/span-protocol.ts'
import type { Tab } from '../node/tab.ts'
import { byId } from './dom.ts'

export async function runGolden (tab: Tab, options: { modelId?: string, backend: SpanBackend, tokens: number }): Promise<string> {
  const output = byId('output')
  output.dataset.done = '0'
  output.textContent = ''
  const modelId = options.modelId ?? await tab.defaultModel()
  // the page's thread may not block: one thread for the CPU kernels
  const backend = await createBackend(options.backend, { threads: 1 })
  try {
    const model = await tab.localModel(modelId, backend)
    try {
      const gen = model.generate('', { temperature: 0, maxTokens: options.tokens })
      for await (const t of gen) output.textContent += t.text
      output.dataset.backend = backend.name
      output.dataset.done = '1'
      return gen.text
    } finally {
      await model.close()
    }
  } finally {
    backend.dispose()
  }
}

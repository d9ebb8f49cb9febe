// The tokenizer on a worker thread (see offload.ts): builds it from the data it is given, then
// answers { id, text, addBos } with { id, ids } (an Int32Array, transferred) or { id, error }.
import { parentPort, workerData } from 'node:worker_threads'
import { register } from 'tsx/esm/api'

register()
const { createTokenizer } = await import('./index.ts')
const tokenizer = createTokenizer(workerData)
parentPort.on('message', ({ id, text, addBos }) => {
  try {
    const ids = Int32Array.from(tokenizer.encode(text, { addBos }))
    parentPort.postMessage({ id, ids }, [ids.buffer])
  } catch (err) {
    parentPort.postMessage({ id, error: err instanceof Error ? err.message : String(err) })
  }
})
parentPort.postMessage({ ready: true })

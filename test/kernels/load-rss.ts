// Child process of memory.test.ts: loads a model on the wasm backend and prints its peak RSS.
//   node --import ./bin/polyfill.mjs --import tsx test/kernels/load-rss.ts <model> <threads>
import { Model } from '../../src/model/index.ts'

const [path, threads] = process.argv.slice(2)
// the runtime's own share (Node, the TypeScript loader, our modules), measured before loading
const baseRssBytes = process.resourceUsage().maxRSS * 1024
const model = await Model.load(path!, { backend: 'wasm', threads: Number(threads) })
const maxRssBytes = process.resourceUsage().maxRSS * 1024
await model.close()
process.stdout.write(JSON.stringify({ baseRssBytes, maxRssBytes }) + '\n')

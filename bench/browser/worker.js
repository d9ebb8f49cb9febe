// A kernel worker for the browser bench harness: the loop of src/kernels/wasm/worker-loop.mjs on a
// Web Worker, started by the first message.
import { runWorker } from './worker-loop.mjs'

self.onmessage = event => { self.onmessage = null; runWorker(event.data, message => self.postMessage(message)) }

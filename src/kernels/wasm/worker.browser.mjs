// A kernel worker in a browser (a module Web Worker): the first message carries what Node's
// workerData does; the loop is worker-loop.mjs. Bundled as kernel-worker.js (web/build.mjs).
import { runKernelWorker } from './worker-loop.mjs'

self.addEventListener('message', event => {
  runKernelWorker(event.data, message => self.postMessage(message))
}, { once: true })

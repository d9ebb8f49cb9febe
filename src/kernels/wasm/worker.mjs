// A kernel worker (Node worker_threads); the loop itself is worker-loop.mjs, shared with browsers.
import { parentPort, workerData } from 'node:worker_threads'
import { runKernelWorker } from './worker-loop.mjs'

runKernelWorker(workerData, message => parentPort.postMessage(message))

// A kernel worker for Node (worker_threads): the loop of worker-loop.mjs on workerData.
import { parentPort, workerData } from 'node:worker_threads'
import { runWorker } from './worker-loop.mjs'

runWorker(workerData, message => parentPort.postMessage(message))

// A kernel worker (Node worker_threads): instantiates the kernels on the shared memory and runs
// the calls the control block announces until told to stop. Plain JavaScript because workers do
// not inherit the TypeScript loader. The protocol is ThreadPool's, in pool.ts (keep in sync).
import { parentPort, workerData } from 'node:worker_threads'

const { module, memory, control, index, kernels, layout } = workerData
const { SEQ, PENDING, FN, NARGS, STOP, ERROR, RANGES, ARGS_BYTE, MAX_ARGS, SPIN } = layout
const exports = new WebAssembly.Instance(module, { env: { memory } }).exports
const fns = kernels.map(name => exports[name])
const ctl = new Int32Array(control, 0, ARGS_BYTE / 4)
const args = new Float64Array(control, ARGS_BYTE, MAX_ARGS)
const tid = index + 1
let seen = Atomics.load(ctl, SEQ) // before 'ready': the first call may follow at once
parentPort.postMessage('ready')

for (;;) {
  let seq = seen
  for (let i = 0; i < SPIN && seq === seen; i++) seq = Atomics.load(ctl, SEQ)
  if (seq === seen) { Atomics.wait(ctl, SEQ, seen); continue }
  seen = seq
  if (Atomics.load(ctl, STOP) !== 0) break
  const start = ctl[RANGES + 2 * index]
  const end = ctl[RANGES + 2 * index + 1]
  if (start < end) {
    try {
      const a = Array.from(args.subarray(0, ctl[NARGS]))
      fns[ctl[FN]](...a, start, end, tid)
    } catch (err) {
      Atomics.store(ctl, ERROR, 1)
      parentPort.postMessage({ error: String(err?.stack ?? err) })
    }
  }
  if (Atomics.sub(ctl, PENDING, 1) === 1) Atomics.notify(ctl, PENDING)
}

// The kernel worker's loop, shared by Node's worker_threads (worker.mjs) and browsers' Web Workers
// (worker.browser.mjs): instantiates the kernels on the shared memory and takes chunks of the jobs
// the control block announces until told to stop. Plain JavaScript because workers do not inherit
// the TypeScript loader. The protocol is ThreadPool's, in pool.ts.

/** Runs until the pool stops; `post` tells the pool 'ready' once, then any error. */
export function runKernelWorker ({ module, memory, control, index, kernels, layout }, post) {
  const { SEQ, NEXT, DONE, CHUNKS, CHUNK, TOTAL, FN, NARGS, STOP, ERROR, ARGS_BYTE, MAX_ARGS, SPIN, CHUNK_BITS } = layout
  const exports = new WebAssembly.Instance(module, { env: { memory } }).exports
  const fns = kernels.map(name => exports[name])
  const ctl = new Int32Array(control, 0, ARGS_BYTE / 4)
  const args = new Float64Array(control, ARGS_BYTE, MAX_ARGS)
  const tid = index + 1
  const SEQ_MASK = (1 << (31 - CHUNK_BITS)) - 1

  /** The next unclaimed chunk of job `seq`, or -1 (as claim() in pool.ts). */
  function claim (seq, chunks) {
    for (;;) {
      const v = Atomics.load(ctl, NEXT)
      const c = v & ((1 << CHUNK_BITS) - 1)
      if (v >>> CHUNK_BITS !== (seq & SEQ_MASK) || c >= chunks) return -1
      if (Atomics.compareExchange(ctl, NEXT, v, v + 1) === v) return c
    }
  }

  let seen = Atomics.load(ctl, SEQ) // before 'ready': the first job may follow at once
  post('ready')
  for (;;) {
    let seq = seen
    for (let i = 0; i < SPIN && seq === seen; i++) seq = Atomics.load(ctl, SEQ)
    if (seq === seen) { Atomics.wait(ctl, SEQ, seen); continue }
    seen = seq
    if (Atomics.load(ctl, STOP) !== 0) break
    // read the job, then claim with its sequence number: a job that ended meanwhile yields no chunk
    const fn = fns[ctl[FN]]
    const a = Array.from(args.subarray(0, ctl[NARGS]))
    const chunks = ctl[CHUNKS]
    const chunk = ctl[CHUNK]
    const total = ctl[TOTAL]
    for (let c; (c = claim(seq, chunks)) >= 0;) {
      try {
        fn(...a, c * chunk, Math.min(total, (c + 1) * chunk), tid)
      } catch (err) {
        Atomics.store(ctl, ERROR, 1)
        post({ error: String(err?.stack ?? err) })
      }
      if (Atomics.add(ctl, DONE, 1) + 1 === chunks) Atomics.notify(ctl, DONE)
    }
  }
}

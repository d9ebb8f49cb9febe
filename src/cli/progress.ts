/**
 * Progress for long work, on stderr: a redrawn bar on a terminal, one summary line otherwise (so
 * logs and CI output stay readable).
 */
const WIDTH = 24
const REDRAW_MS = 100

export interface Progress {
  update (done: number, total: number): void
  /** Ends the bar with a summary line. */
  finish (): void
}

function megabytes (bytes: number): string {
  return `${(bytes / 1e6).toFixed(bytes < 1e7 ? 1 : 0)} MB`
}

export function progress (stream: NodeJS.WritableStream, label: string): Progress {
  const tty = (stream as { isTTY?: boolean }).isTTY === true
  const t0 = performance.now()
  let last = 0
  let done = 0
  let total = 0
  const draw = (): void => {
    const fraction = total > 0 ? Math.min(1, done / total) : 0
    const filled = Math.round(fraction * WIDTH)
    stream.write(`\r${label} [${'#'.repeat(filled)}${'-'.repeat(WIDTH - filled)}] ${(fraction * 100).toFixed(0).padStart(3)}% ${megabytes(done)} / ${megabytes(total)}`)
  }
  return {
    update (d, t) {
      done = d
      total = t
      const now = performance.now()
      if (tty && (now - last >= REDRAW_MS || d >= t)) { last = now; draw() }
    },
    finish () {
      const seconds = ((performance.now() - t0) / 1000).toFixed(1)
      if (tty) { draw(); stream.write(` ${seconds} s\n`) } else stream.write(`${label}: ${megabytes(done)} in ${seconds} s\n`)
    }
  }
}

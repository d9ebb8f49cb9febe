/**
 * A node's data directory (default ~/.gridllm): its key (peer.key: the account, and a server's
 * peer id), its ledger (ledger.sqlite), what its clients learned of servers (reputation.json) and
 * its caches. Several processes may use one directory's account at a time (clients sign with its
 * key and share its ledger); one `gridllm serve` at a time may be the peer itself, which a lock file
 * (serve.lock, holding its pid) enforces.
 */
import { closeSync, mkdirSync, openSync, readFileSync, rmSync, writeSync } from 'node:fs'
import { homedir } from 'node:os'
import { join, resolve } from 'node:path'
import { KEY_FILE } from '../ledger/index.ts'
import { DataDirInUseError } from '../util/errors.ts'

export const DATA_DIR_NAME = '.gridllm'

/** The data directory: the one given, or ~/.gridllm (HOME from the environment). */
export function dataDir (value: string | undefined, env: NodeJS.ProcessEnv): string {
  if (value !== undefined && value !== '') return resolve(value)
  return join(env.HOME !== undefined && env.HOME !== '' ? env.HOME : homedir(), DATA_DIR_NAME)
}

export function keyFile (dir: string): string {
  return join(dir, KEY_FILE)
}

function alive (pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM'
  }
}

/**
 * Takes the directory's serve lock for this process; throws DATA_DIR_IN_USE if a live process holds
 * it (a stale lock of a process that died, kill -9 included, is taken over). Returns the release.
 */
export function lockDataDir (dir: string, what = 'gridllm serve'): () => void {
  mkdirSync(dir, { recursive: true, mode: 0o700 })
  const file = join(dir, 'serve.lock')
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      const fd = openSync(file, 'wx', 0o600)
      writeSync(fd, `${process.pid}\n`)
      closeSync(fd)
      let released = false
      const release = (): void => {
        if (released) return
        released = true
        process.off('exit', release)
        try { if (Number(readFileSync(file, 'utf8').trim()) === process.pid) rmSync(file) } catch { /* gone already */ }
      }
      process.on('exit', release)
      return release
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err
      const pid = Number(readFileSync(file, 'utf8').trim())
      if (Number.isInteger(pid) && pid > 0 && pid !== process.pid && alive(pid)) {
        throw new DataDirInUseError(`${dir} is in use by another ${what} (pid ${pid}); give this one its own --data-dir`)
      }
      rmSync(file, { force: true }) // its process is gone
    }
  }
  throw new DataDirInUseError(`cannot take the lock of ${dir}`)
}

import { readFileSync } from 'node:fs'
import { BadModelFileError, FileNotFoundError, GridError } from '../util/errors.ts'

/** Opens a file with `open`, turning "no such file" into FileNotFoundError. */
export function openOrThrow<T> (path: string, open: (path: string, flags: 'r') => T): T {
  try {
    return open(path, 'r')
  } catch (err) {
    throw fileError(path, err)
  }
}

/** Maps a Node fs error to a GridError with a clear message. */
export function fileError (path: string, err: unknown): Error {
  if (err instanceof GridError) return err
  const code = (err as NodeJS.ErrnoException)?.code
  if (code === 'ENOENT' || code === 'ENOTDIR') return new FileNotFoundError(path, { cause: err })
  if (code === 'EISDIR') return new BadModelFileError(`${path} is a directory, expected a file`, { cause: err })
  return new BadModelFileError(`cannot read ${path}: ${(err as Error)?.message ?? String(err)}`, { cause: err })
}

/** A text file's contents; a missing file is FileNotFoundError. */
export function readTextFile (path: string): string {
  try {
    return readFileSync(path, 'utf8')
  } catch (err) {
    throw fileError(path, err)
  }
}

/** Parses a JSON file; a missing file is FileNotFoundError, bad JSON is BadModelFileError. */
export function readJsonFile (path: string): Record<string, unknown> {
  const text = readTextFile(path)
  try {
    return JSON.parse(text) as Record<string, unknown>
  } catch (err) {
    throw new BadModelFileError(`${path}: invalid JSON (${(err as Error).message})`, { cause: err })
  }
}

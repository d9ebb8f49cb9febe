/**
 * The reference engines the benchmarks compare against, installed on first use into bench/.cache
 * (never project dependencies): node-llama-cpp (~700 MB, llama.cpp's prebuilt binaries) and the
 * small helpers some checks need (koffi to call libggml directly).
 */
import { spawnSync } from 'node:child_process'
import { existsSync, mkdirSync, writeFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'

export const LLAMA_PACKAGE = 'node-llama-cpp@3.22.1'
export const BENCH_CACHE = fileURLToPath(new URL('./.cache/', import.meta.url))

const log = (msg: string): void => { process.stderr.write(`[bench] ${msg}\n`) }

/** Installs `spec` (name@version) into bench/.cache unless it is there; returns the package's folder. */
export function ensureBenchPackage (spec: string): string {
  const name = spec.slice(0, spec.lastIndexOf('@'))
  const dir = `${BENCH_CACHE}node_modules/${name}`
  if (existsSync(`${dir}/package.json`)) return dir
  log(`installing ${spec} into ${BENCH_CACHE} (once; it is not a project dependency)`)
  mkdirSync(BENCH_CACHE, { recursive: true })
  if (!existsSync(`${BENCH_CACHE}package.json`)) writeFileSync(`${BENCH_CACHE}package.json`, '{ "name": "gridllm-bench-cache", "private": true }\n')
  const r = spawnSync('npm', ['install', '--no-audit', '--no-fund', '--ignore-scripts', spec], { cwd: BENCH_CACHE, stdio: ['ignore', 'inherit', 'inherit'] })
  if (r.status !== 0) throw new Error(`npm install ${spec} failed`)
  return dir
}

/** Installs node-llama-cpp if needed. */
export function ensureLlamaCpp (): string {
  return ensureBenchPackage(LLAMA_PACKAGE)
}

/** A shared library of llama.cpp's CPU build as node-llama-cpp ships it (linux-x64). */
export function llamaCppLibrary (file: string): string {
  ensureLlamaCpp()
  return `${BENCH_CACHE}node_modules/@node-llama-cpp/linux-x64/bins/linux-x64/${file}`
}

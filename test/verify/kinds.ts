/**
 * The cheats the verification suite (and bench/verify.ts) plays against real servers: each is a
 * StepCheat (test/swarm/cheaters.ts) a test-only wrapper applies to a server's steps.
 */
import { Prng, type SpanSession } from '../../src/model/index.ts'
import type { StepCheat } from '../swarm/cheaters.ts'

const rms = (x: Float32Array, at: number, dim: number): number => {
  let s = 0
  for (let i = at; i < at + dim; i++) s += x[i]! * x[i]!
  return Math.sqrt(s / dim)
}

/** A standard normal from a PRNG (Box-Muller). */
const normal = (rng: Prng): number => Math.sqrt(-2 * Math.log(1 - rng.next())) * Math.cos(2 * Math.PI * rng.next())

/** Adds noise of relative size eps to each row; seeded by the row's own contents, so two colluders agree. */
export function addNoise (out: Float32Array, dim: number, eps: number): Float32Array {
  const noisy = out.slice()
  for (let r = 0; r < out.length / dim; r++) {
    let seed = 0
    for (let i = r * dim; i < (r + 1) * dim; i++) seed = (Math.imul(seed, 31) + Math.round(out[i]! * 1e4)) | 0
    const rng = new Prng(seed)
    const scale = eps * rms(out, r * dim, dim)
    for (let i = r * dim; i < (r + 1) * dim; i++) noisy[i]! += scale * normal(rng)
  }
  return noisy
}

export const kinds = {
  /** random values of the honest output's size */
  random: (): StepCheat => async ({ honest }) => {
    const out = await honest()
    const rng = new Prng(out.length)
    return out.map(() => normal(rng))
  },
  zeros: (): StepCheat => async ({ hidden }) => new Float32Array(hidden.length),
  /** its input, unchanged */
  echo: (): StepCheat => async ({ hidden }) => hidden.slice(),
  /** its span without its first block */
  skipLayer: (): StepCheat => {
    const shorter = new Map<string, Promise<SpanSession>>()
    return async ({ hidden, positions, host, start, end, maxLength, sessionId, honest }) => {
      if (end - start < 2) return await honest()
      let s = shorter.get(sessionId)
      if (s === undefined) { s = host.open(`${sessionId}-short`, start + 1, end, maxLength); shorter.set(sessionId, s) }
      return await (await s).forward(hidden, positions)
    }
  },
  /** noise of relative size eps on the output */
  noise: (eps: number): StepCheat => async ({ honest, host }) => addNoise(await honest(), host.dim, eps),
  /** noise of relative size eps on a fraction f of its steps (seeded) */
  sometimes: (f: number, eps: number, seed: number): StepCheat => {
    const rng = new Prng(seed)
    return async ({ honest, host }) => { const out = await honest(); return rng.next() < f ? addNoise(out, host.dim, eps) : out }
  },
  /** honest for its first `steps` steps (a reputation to spend), then noisy */
  later: (steps: number, eps: number): StepCheat => {
    let served = 0
    return async ({ honest, host }) => { const out = await honest(); return served++ < steps ? out : addNoise(out, host.dim, eps) }
  }
}

export type CheatKind = keyof typeof kinds

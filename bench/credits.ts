/**
 * Credits, measured. One JSON line:
 *   settlements   settlements per second of the ledger: a payer and a payee, each with its own SQLite
 *                 ledger (WAL, in a temp dir) and key; per settlement the payer writes and signs its
 *                 debit, the payee checks it as it comes off the wire (signature, receipt, preimage)
 *                 and writes and signs its credit, the payer checks and keeps the agreement
 *   per token     token latency of greedy generation through a swarm of server processes of a
 *                 135M-shaped synthetic model, paying (credits on, the default) vs two other servers
 *                 of the same blocks with --credits off, interleaved rounds in one run; the ratio is
 *                 the payment's cost (target <= 1.01)
 *
 *   node --import ./bin/polyfill.mjs --import tsx bench/credits.ts [--rounds N] [--tokens N] [--settlements N] [--servers N]
 * defaults: 10 rounds of 32 tokens, 500 settlements, 2 servers per swarm.
 */
import { randomUUID } from 'node:crypto'
import { mkdirSync } from 'node:fs'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { type Ledger, type Receipt, CreditGate, HashChain, LedgerService, Minter, auditLedger, clientCredits, commitmentId, openLedger, parseAttestation, parseBlock, serverPolicy, signAttestation, signCommitment } from '../src/ledger/index.ts'
import { wasmKernelsBuilt } from '../src/kernels/index.ts'
import type { Model } from '../src/model/index.ts'
import { type NetNode, type SignedClaim, type Signer, claimBytes, keySigner } from '../src/net/index.ts'
import { sha256Hex, toHex } from '../src/util/digest.ts'
import { SHAPE_135M, writeSyntheticGguf } from '../src/model/synthetic.ts'
import { loadSwarmModel } from '../src/swarm/index.ts'
import { type ServerProcess, killGroup, startServer, startServers, stopServers, tempDir } from '../test/swarm/harness.ts'
import { median } from './measure.ts'

const { values: v } = parseArgs({ options: { rounds: { type: 'string' }, tokens: { type: 'string' }, settlements: { type: 'string' }, servers: { type: 'string' } } })
const count = (name: string, value: string | undefined, fallback: number): number => {
  const n = value === undefined ? fallback : Number(value)
  if (!Number.isSafeInteger(n) || n < 1) throw new Error(`--${name} must be a whole number above 0, got "${value}"`)
  return n
}
const ROUNDS = count('rounds', v.rounds, 10)
const TOKENS = count('tokens', v.tokens, 32)
const SETTLEMENTS = count('settlements', v.settlements, 500)
const SERVERS = count('servers', v.servers, 2)
const PROMPT = 'the quick brown fox'
const dir = tempDir()
const servers: ServerProcess[] = []
const cleanup = (): void => {
  for (const s of servers) killGroup(s, 'SIGKILL')
  dir.remove()
}
process.on('exit', cleanup)
for (const sig of ['SIGINT', 'SIGTERM'] as const) process.on(sig, () => { cleanup(); process.exit(130) })

/** Settlements of `tokens` tokens each between two SQLite ledgers, one after another. */
async function settlements (n: number, tokens: number): Promise<{ perSecond: number, ms: number, mintMs: number }> {
  const signer = async (): Promise<ReturnType<typeof keySigner>> => keySigner(await generateKeyPair('Ed25519'))
  const at = (name: string): string => { const d = join(dir.path, name); mkdirSync(d, { recursive: true }); return d }
  const payerSigner = await signer()
  const payer = await openLedger(payerSigner, { dataDir: at('payer') })
  const payee = await openLedger(await signer(), { dataDir: at('payee') })
  const price = 1 // µcr per block-token, one block: amounts stay far from the debt limit
  const gate = new CreditGate(payee, serverPolicy({ price }))
  // settle() reaches the network only to send debits to witnesses (this node knows no peers) and to
  // read the payer's blocks it has not seen: it has seen the payer's first, and then every debit
  const service = new LedgerService({ ledger: payee, node: { peerId: payee.account } as unknown as NetNode, gate })
  payee.store.remember(payer.blockAt(0))
  try {
    // the sessions, opened beforehand as a server opens them (commitment checked, session row written)
    const receipts: Receipt[] = []
    for (let i = 0; i < n; i++) {
      const chain = new HashChain(tokens)
      const c = await signCommitment({
        session: randomUUID(), server: payee.account, model: 'f'.repeat(64), start: 0, end: 1, price, root: chain.root,
        maxTokens: tokens, expiresAt: Date.now() + 3600_000, head: payer.headInfo()
      }, payerSigner)
      await gate.open(payer.account, { session: c.session, model: c.model, start: 0, end: 1 }, c)
      receipts.push({ commitment: c, from: 0, to: tokens, preimage: chain.preimage(tokens) })
    }
    const wire = <T>(x: T): unknown => JSON.parse(JSON.stringify(x)) as unknown
    const t0 = performance.now()
    for (const r of receipts) {
      const row = await payer.pay(r)
      const credit = await service.settle(payer.account, parseBlock(wire(payer.blockAt(row.seq))))
      await payer.agreed(row, parseBlock(wire(credit)))
    }
    const ms = performance.now() - t0
    await service.idle()
    // what was timed is what the code does: both chains verify and the books balance
    for (const l of [payer, payee]) {
      const report = await auditLedger(l.store)
      if (!report.ok) throw new Error(`the ${l === payer ? 'payer' : 'payee'}'s ledger does not verify: ${report.problems.join('; ')}`)
    }
    if (payer.balance + payee.balance !== 0 || payee.summary().payeeSettlements !== n || payer.store.pending().length !== 0) throw new Error('settlements did not all go through')
    const mint = await mints(receipts, payerSigner, payee)
    return { perSecond: n / (ms / 1000), ms: ms / n, mintMs: mint }
  } finally {
    payer.store.close()
    payee.store.close()
  }
}

/**
 * Minting for each settled session: the consumer signs an attestation of the server's (the
 * payee's) claims and a witness's, the server checks it and writes its mint block. ms per mint.
 */
async function mints (receipts: readonly Receipt[], consumer: Signer, server: Ledger): Promise<number> {
  const witness = keySigner(await generateKeyPair('Ed25519'))
  const minter = new Minter(server)
  const claim = async (by: Signer, c: Omit<SignedClaim, 'sig'>): Promise<SignedClaim> => ({ ...c, sig: toHex(await by.sign(claimBytes(c))) })
  const digest = sha256Hex(new TextEncoder().encode('input'))
  const t0 = performance.now()
  for (const r of receipts) {
    const c = r.commitment
    const span = { model: c.model, start: c.start, end: c.end }
    const first = await claim(server.signer, { ...span, session: c.session, step: 0, from: 0, rows: 4, input: digest, output: digest })
    const last = await claim(server.signer, { ...span, session: c.session, step: r.to - 4, from: r.to - 1, rows: 1, input: digest, output: digest })
    const witnessed = await claim(witness, { ...span, session: `${c.session}-w`, step: 0, from: 0, rows: 4, input: digest, output: digest })
    const a = await signAttestation({ consumer: consumer.peerId, server: server.account, witness: witness.peerId, commitment: commitmentId(c), tokens: r.to, served: [first, last], witnessed }, consumer)
    const result = await minter.take(parseAttestation(JSON.parse(JSON.stringify(a))))
    if (result.result !== 'minted') throw new Error(`an attestation did not mint: ${result.result}`)
  }
  const ms = performance.now() - t0
  const report = await auditLedger(server.store)
  if (!report.ok) throw new Error(`the minting ledger does not verify: ${report.problems.join('; ')}`)
  return ms / receipts.length
}

interface Timing { request: number, decode: number }

/** One greedy request: ms per token over the whole request (session open and close included) and over decoding alone. */
async function timed (model: Model): Promise<Timing> {
  const t0 = performance.now()
  let first = 0
  let n = 0
  for await (const _ of model.generate(PROMPT, { temperature: 0, maxTokens: TOKENS })) {
    if (n++ === 0) first = performance.now()
  }
  const end = performance.now()
  if (n !== TOKENS) throw new Error(`expected ${TOKENS} tokens, got ${n}`)
  return { request: (end - t0) / n, decode: (end - first) / Math.max(1, n - 1) }
}

/** Contiguous spans of `n` servers over `layers` blocks. */
function spans (layers: number, n: number): string[] {
  return Array.from({ length: n }, (_, i) => `${Math.round(i * layers / n)}:${Math.round((i + 1) * layers / n)}`)
}

async function perToken (): Promise<object> {
  const M135 = join(dir.path, 'synthetic-135m.gguf')
  writeSyntheticGguf(M135, SHAPE_135M, { seed: 7 })
  const blocks = spans(SHAPE_135M.nLayers, SERVERS)
  // two swarms of the same blocks that never meet (each bootstraps to its own first server; no mDNS on loopback)
  const swarm = async (extra: string[]): Promise<ServerProcess[]> => {
    const own: ServerProcess[] = []
    const first = await startServer(M135, ['--blocks', blocks[0]!, '--threads', '1', ...extra], { timeoutMs: 180_000, detached: true })
    own.push(first)
    servers.push(first)
    try {
      await startServers(own, M135, blocks.slice(1).map(b => ['--blocks', b, '--threads', '1', ...extra]), { bootstrap: [first], timeoutMs: 180_000, detached: true })
    } finally {
      for (const s of own.slice(1)) servers.push(s)
    }
    return own
  }
  const paid = await swarm([])
  const free = await swarm(['--credits', 'off'])
  const peers = { on: new Set(paid.map(s => s.peer)), off: new Set(free.map(s => s.peer)) }
  const strays: string[] = []
  const route = (name: 'on' | 'off') => (e: { hops: ReadonlyArray<{ peer: string }> }): void => {
    for (const h of e.hops) if (!peers[name].has(h.peer)) strays.push(`${name}: ${h.peer}`)
  }
  let spent: () => { spent: number, settlements: number } = () => ({ spent: 0, settlements: 0 })
  const on = await loadSwarmModel(M135, {
    bootstrap: [paid[0]!.addr], onRoute: route('on'),
    payer: clientCredits({ dataDir: join(dir.path, 'client'), grantBits: 20, onLedger: l => { spent = () => { const s = l.summary(); return { spent: s.spent, settlements: s.payerSettlements } } } })
  })
  const off = await loadSwarmModel(M135, { bootstrap: [free[0]!.addr], onRoute: route('off') })
  try {
    const runs: Record<'on' | 'off', Timing[]> = { on: [], off: [] }
    for (const m of [on, off]) await timed(m) // warm-up: JIT, connections, the servers' first sessions
    for (let r = 0; r < ROUNDS; r++) {
      const order = r % 2 === 0 ? (['on', 'off'] as const) : (['off', 'on'] as const) // neither always goes first
      for (const name of order) {
        runs[name].push(await timed(name === 'on' ? on : off))
        process.stderr.write(`round ${r + 1} credits ${name}: ${runs[name].at(-1)!.request.toFixed(2)} ms/token\n`)
      }
    }
    if (strays.length > 0) throw new Error(`a session left its swarm: ${strays.slice(0, 3).join(', ')}`)
    const paidFor = spent()
    if (paidFor.spent === 0) throw new Error('the paying client paid nothing: the comparison would measure nothing')
    const med = (name: 'on' | 'off', k: keyof Timing): number => median(runs[name].map(t => t[k]))
    return {
      ms_per_token_off: +med('off', 'request').toFixed(3),
      ms_per_token_on: +med('on', 'request').toFixed(3),
      latency_ratio: +(med('on', 'request') / med('off', 'request')).toFixed(4),
      decode_ms_per_token_off: +med('off', 'decode').toFixed(3),
      decode_ms_per_token_on: +med('on', 'decode').toFixed(3),
      decode_latency_ratio: +(med('on', 'decode') / med('off', 'decode')).toFixed(4),
      client_settlements: paidFor.settlements,
      client_spent_credits: paidFor.spent / 1e6
    }
  } finally {
    await Promise.all([on.close(), off.close()])
    await stopServers(servers)
  }
}

// without the wasm build the servers compute on the ref backend, ~20x slower, which hides the payment's cost
if (!wasmKernelsBuilt()) process.stderr.write('bench/credits.ts: warning: the WebAssembly kernels are not built (npm run build:wasm); the servers run the ref backend\n')
const settled = await settlements(SETTLEMENTS, TOKENS)
const latency = await perToken()
console.log(JSON.stringify({
  bench: 'credits',
  settlements: SETTLEMENTS,
  tokens_per_settlement: TOKENS,
  settlements_per_second: +settled.perSecond.toFixed(1),
  ms_per_mint: +settled.mintMs.toFixed(3),
  ms_per_settlement: +settled.ms.toFixed(3),
  model: 'synthetic-135M',
  servers_per_swarm: SERVERS,
  wasm_kernels: wasmKernelsBuilt(),
  rounds: ROUNDS,
  tokens_per_request: TOKENS,
  ...latency,
  target: 'latency_ratio <= 1.01',
  note: 'ms per token: a whole greedy request (session opens with their commitments, decoding with a preimage per step) over its tokens, median of rounds; settlement follows each close in the background, its CPU shared with later rounds; decode: first token to last. Settlements/s: both sides in one process, JSON between them, no network'
}))

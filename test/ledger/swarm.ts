/**
 * An in-process swarm that charges: servers with ledgers and prices, clients with wallets, and
 * what tests need to read their books. Shared by the credit tests and bench/credits.ts.
 */
import { randomUUID } from 'node:crypto'
import type { Model } from '../../src/model/index.ts'
import { type CreditGate, type Ledger, type LedgerService, type Receipt, type Wallet, HashChain, clientCredits, serverCredits, signCommitment } from '../../src/ledger/index.ts'
import { type HopPayer, type NetNode, RemoteSpanSession } from '../../src/net/index.ts'
import { type SwarmServer, type WatcherFactory, loadSwarmModel } from '../../src/swarm/index.ts'
import { STORIES, serveInProcess } from '../swarm/harness.ts'

export interface Books {
  ledger: Ledger
  service: LedgerService
  gate?: CreditGate
  wallet?: Wallet
}

export interface PaidServer {
  readonly server: SwarmServer
  readonly books: Books
  readonly price: number
  readonly blocks: readonly [number, number]
}

/** A server of `blocks` charging `price` µcr per block-token; its ledger in `dataDir` (or in memory). */
export async function paidServer (blocks: [number, number], price: number, bootstrap: readonly string[] = [], options: { dataDir?: string, payThreshold?: number, payWaitMs?: number, model?: string } = {}): Promise<PaidServer> {
  let books: Books | undefined
  const server = await serveInProcess(blocks, bootstrap, {
    model: options.model ?? STORIES,
    credits: serverCredits({ dataDir: options.dataDir, policy: { price, payThreshold: options.payThreshold, payWaitMs: options.payWaitMs }, onLedger: (ledger, x) => { books = { ledger, ...x } } })
  })
  return { server, books: books!, price, blocks }
}

/** A client paying from its own account; waits until it sees `servers` servers. */
export async function payingClient (bootstrap: readonly string[], servers: number,
  options: { dataDir?: string, model?: string, keyFile?: string, watcher?: (books: () => Books | undefined) => WatcherFactory | undefined } = {}): Promise<{ model: Model, books: Books }> {
  let books: Books | undefined
  const model = await loadSwarmModel(options.model ?? STORIES, {
    bootstrap, keyFile: options.keyFile, watcher: options.watcher?.(() => books), payer: clientCredits({ dataDir: options.dataDir, retryMs: 500, onLedger: (ledger, x) => { books = { ledger, ...x } } })
  })
  const { client } = model.executors[0] as unknown as { client: { servers: (m: string, n: number, o: object) => Promise<unknown[]> } }
  for (let t = 0; t < 100 && (await client.servers(model.modelId, model.config.nLayers, { refresh: true })).length < servers; t++) await new Promise(resolve => setTimeout(resolve, 50))
  return { model, books: books! }
}

/** Tokens a generation ran through every block: the prompt, and each generated token but a last one that was not fed back. */
export function tokensThrough (gen: { promptTokens: number, completionTokens: number, finishReason: string | undefined }, stoppedByEos: boolean): number {
  return gen.promptTokens + gen.completionTokens - (stoppedByEos ? 0 : 1)
}

/**
 * Runs a two-step session of all of `s`'s blocks from `node`, paying by preimage from `consumer`'s
 * account at `s`'s price, and returns its receipt, unsettled (tests then settle it by hand).
 */
export async function servedSession (node: NetNode, consumer: Ledger, s: PaidServer, dim = 64): Promise<Receipt> {
  const [start, end] = s.blocks
  let receipt: Receipt | undefined
  const payer: HopPayer = {
    open: async (server, o) => {
      const chain = new HashChain(8)
      const commitment = await signCommitment({ ...o, server, price: s.price * (end - start), root: chain.root, maxTokens: 8, expiresAt: Date.now() + 60_000, head: consumer.headInfo() }, consumer.signer)
      return { commitment, preimage: t => { receipt = { commitment, from: 0, to: t, preimage: chain.preimage(t) }; return chain.preimage(t) }, close: () => {} }
    }
  }
  const done = new Set<number>()
  const remote = await RemoteSpanSession.open(node, { id: s.server.node.peerId, addrs: s.server.addresses }, { session: randomUUID(), model: s.server.modelId, start, end, maxLength: 8 }, dim,
    { onResult: k => { done.add(k) }, onFailure: err => { throw err } }, { payer })
  for (let k = 0; k < 2; k++) {
    await remote.step(k, k, Float32Array.from({ length: dim }, (_, i) => Math.cos(i * k)), false)
    for (let t = 0; t < 400 && !done.has(k); t++) await new Promise(resolve => setTimeout(resolve, 5))
  }
  await remote.close()
  return receipt!
}

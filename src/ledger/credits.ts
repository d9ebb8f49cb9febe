/**
 * Credits on a swarm node, on any platform: what a server (gate, and the ledger service taking its
 * settlements and attestations) and a client (wallet, and the service showing its chain to payees)
 * run on top of a ledger. Where the ledger lives is the caller's: SQLite on a node (node.ts), memory
 * written through to IndexedDB in a tab (web/node/account.ts).
 */
import type { PeerAddress, Signer } from '../net/index.ts'
import type { PayerFactory, ServerCreditsFactory, ServerInfo, SwarmClient } from '../swarm/index.ts'
import { logger } from '../util/log.ts'
import { CreditGate } from './gate.ts'
import type { Ledger } from './ledger.ts'
import { type ServerCreditPolicy, serverPolicy } from './policy.ts'
import { LedgerService } from './service.ts'
import { type ServerTerms, Wallet } from './wallet.ts'

const log = logger('ledger:credits')

/** An account already open on a node, its service answering: what a tab opens once for serving and chatting both. */
export interface Account {
  readonly ledger: Ledger
  readonly service: LedgerService
}

export interface CreditsOptions {
  /** opens the account's ledger for the factory (closed with it); `account` instead: one already open, left open */
  open?: (signer: Signer) => Promise<Ledger>
  account?: Account
  /** told of the ledger once it exists (tests, metrics) */
  onLedger?: (ledger: Ledger, extra: { wallet?: Wallet, service: LedgerService, gate?: CreditGate }) => void
}

/** A list that is fetched at most every `ms` (the swarm's servers, for witnesses and fork proofs). */
export function cached<T> (fetch: () => Promise<T>, ms = 30_000): () => Promise<T> {
  let at = 0
  let value: Promise<T> | undefined
  return async () => {
    if (value === undefined || Date.now() - at > ms) { at = Date.now(); value = fetch(); value.catch(() => { value = undefined }) }
    return await value
  }
}

export const addresses = (servers: readonly ServerInfo[]): PeerAddress[] => servers.map(s => ({ id: s.peer, addrs: s.addrs }))

/** For SwarmServer.start({ credits }): the server charges `policy.price` per block-token. */
export function creditsForServer (options: CreditsOptions & { policy?: Partial<ServerCreditPolicy> }): ServerCreditsFactory {
  return async (node, swarm) => {
    const policy = serverPolicy(options.policy)
    const shared = options.account
    const ledger = shared?.ledger ?? await open(options, node)
    const gate = new CreditGate(ledger, policy)
    const service = shared?.service ?? new LedgerService({ ledger, node, peers: cached(async () => addresses(await swarm.servers())) })
    service.gate = gate
    if (shared === undefined) await service.start()
    options.onLedger?.(ledger, { service, gate })
    log('server %s charges %d µcr per block-token; balance %d µcr', node.peerId.slice(-8), policy.price, ledger.balance)
    return {
      price: policy.price,
      payThreshold: policy.payThreshold,
      earned: () => ledger.store.totals().earned,
      gate,
      stop: async () => {
        if (service.gate === gate) service.gate = undefined
        await service.idle()
        if (shared === undefined) ledger.store.close()
      }
    }
  }
}

export interface ClientCreditsOptions extends CreditsOptions {
  /** pays from this ledger (left open), started elsewhere on this node's service or not */
  ledger?: Ledger
  /** the account's signer, for `open` (default the client's node key) */
  signer?: (client: SwarmClient) => Promise<Signer>
  retryMs?: number
  commitmentMs?: number
}

/** For loadSwarmModel({ payer }): the client pays the servers it uses from its account. */
export function creditsForClient (options: ClientCreditsOptions): PayerFactory {
  return async (client: SwarmClient, modelId: string) => {
    const given = options.account?.ledger ?? options.ledger
    const ledger = given ?? await open(options, await options.signer?.(client) ?? client.node)
    const terms = async (server: string, model: string): Promise<ServerTerms | undefined> => {
      const r = client.server(model, server) ?? await client.directory.record({ id: server, addrs: [] }).catch(() => undefined)
      return r === undefined || r.price === undefined ? undefined : { price: r.price, payThreshold: r.payThreshold ?? 0 }
    }
    const address = (peer: string): PeerAddress => {
      const r = client.server(modelId, peer)
      return r === undefined ? { id: peer, addrs: [] } : { id: peer, addrs: r.addrs }
    }
    const wallet = new Wallet({ ledger, node: client.node, terms, address, retryMs: options.retryMs, commitmentMs: options.commitmentMs })
    const service = options.account?.service ?? new LedgerService({ ledger, node: client.node })
    if (options.account === undefined) await service.start()
    client.payer = wallet
    options.onLedger?.(ledger, { wallet, service })
    return {
      close: async () => {
        client.payer = undefined
        await wallet.close()
        if (given === undefined) ledger.store.close()
      }
    }
  }
}

async function open (options: CreditsOptions, signer: Signer): Promise<Ledger> {
  if (options.open === undefined) throw new TypeError('credits need an account: `open` or `account`')
  return await options.open(signer)
}

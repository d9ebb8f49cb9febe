/**
 * Credits for a swarm node: its ledger (in <dataDir>/ledger.sqlite, or in memory), and what a server
 * (gate and ledger service) or a client (wallet, and its chain for others to read) runs on top.
 */
import { join } from 'node:path'
import { type PeerAddress, type Signer, keySigner, loadOrCreateKey } from '../net/index.ts'
import type { PayerFactory, ServerCreditsFactory, ServerInfo, SwarmClient } from '../swarm/index.ts'
import { logger } from '../util/log.ts'
import { CreditGate } from './gate.ts'
import { Ledger } from './ledger.ts'
import { type ServerCreditPolicy, serverPolicy } from './policy.ts'
import { LedgerService } from './service.ts'
import { SqliteStore } from './sqlite.ts'
import { type ServerTerms, Wallet } from './wallet.ts'

const log = logger('ledger:node')

export const LEDGER_FILE = 'ledger.sqlite'
/** the account's key in a data directory (also a server's libp2p key) */
export const KEY_FILE = 'peer.key'

export interface NodeCreditsOptions {
  /** where the ledger lives (ledger.sqlite); none: in memory, for as long as the process */
  dataDir?: string
  /** a new identity's proof-of-work bits for its grant; default 0 (no grant) */
  grantBits?: number
  /** told of the ledger once it exists (tests, metrics) */
  onLedger?: (ledger: Ledger, extra: { wallet?: Wallet, service: LedgerService, gate?: CreditGate }) => void
}

export async function openLedger (signer: Signer, options: Pick<NodeCreditsOptions, 'dataDir' | 'grantBits'> = {}): Promise<Ledger> {
  const store = new SqliteStore(options.dataDir === undefined ? ':memory:' : join(options.dataDir, LEDGER_FILE))
  try {
    return await Ledger.open({ store, signer, grantBits: options.grantBits })
  } catch (err) {
    store.close()
    throw err
  }
}

/** A list that is fetched at most every `ms` (the swarm's servers, for witnesses and fork proofs). */
function cached<T> (fetch: () => Promise<T>, ms = 30_000): () => Promise<T> {
  let at = 0
  let value: Promise<T> | undefined
  return async () => {
    if (value === undefined || Date.now() - at > ms) { at = Date.now(); value = fetch(); value.catch(() => { value = undefined }) }
    return await value
  }
}

const addresses = (servers: readonly ServerInfo[]): PeerAddress[] => servers.map(s => ({ id: s.peer, addrs: s.addrs }))

/** For SwarmServer.start({ credits }): the server charges `policy.price` per block-token. */
export function serverCredits (options: NodeCreditsOptions & { policy?: Partial<ServerCreditPolicy> }): ServerCreditsFactory {
  return async (node, swarm) => {
    const ledger = await openLedger(node, options)
    const policy = serverPolicy(options.policy)
    const gate = new CreditGate(ledger, policy)
    const service = new LedgerService({ ledger, node, gate, peers: cached(async () => addresses(await swarm.servers())) })
    await service.start()
    options.onLedger?.(ledger, { service, gate })
    log('server %s charges %d µcr per block-token; balance %d µcr', node.peerId.slice(-8), policy.price, ledger.balance)
    return {
      price: policy.price,
      payThreshold: policy.payThreshold,
      earned: () => ledger.store.totals().earned,
      gate,
      stop: async () => { await service.idle(); ledger.store.close() }
    }
  }
}

export interface ClientCreditsOptions extends NodeCreditsOptions {
  /**
   * The account to pay from: a ledger this process already has open (a server's, for its API), or
   * else the account of `dataDir` (its key file and ledger, shared with other processes using it);
   * with neither, the client's own node key and a ledger in memory.
   */
  ledger?: Ledger
  retryMs?: number
  commitmentMs?: number
}

/** For loadSwarmModel({ payer }): the client pays the servers it uses from its account. */
export function clientCredits (options: ClientCreditsOptions = {}): PayerFactory {
  return async (client: SwarmClient, modelId: string) => {
    const own = options.ledger === undefined
    const signer = options.dataDir === undefined ? client.node : keySigner(await loadOrCreateKey(join(options.dataDir, KEY_FILE)))
    const ledger = options.ledger ?? await openLedger(signer, options)
    const terms = async (server: string, model: string): Promise<ServerTerms | undefined> => {
      const r = client.server(model, server) ?? await client.directory.record({ id: server, addrs: [] }).catch(() => undefined)
      return r === undefined || r.price === undefined ? undefined : { price: r.price, payThreshold: r.payThreshold ?? 0 }
    }
    const address = (peer: string): PeerAddress => {
      const r = client.server(modelId, peer)
      return r === undefined ? { id: peer, addrs: [] } : { id: peer, addrs: r.addrs }
    }
    const wallet = new Wallet({ ledger, node: client.node, terms, address, retryMs: options.retryMs, commitmentMs: options.commitmentMs })
    const service = new LedgerService({ ledger, node: client.node })
    await service.start()
    client.payer = wallet
    options.onLedger?.(ledger, { wallet, service })
    return {
      close: async () => {
        client.payer = undefined
        await wallet.close()
        if (own) ledger.store.close()
      }
    }
  }
}

/**
 * Credits for a native swarm node: its ledger in <dataDir>/ledger.sqlite (or in memory), under the
 * key of <dataDir>/peer.key, and the server and client factories of credits.ts opening it.
 */
import { join } from 'node:path'
import { type Signer, keySigner, loadOrCreateKey } from '../net/index.ts'
import type { PayerFactory, ServerCreditsFactory } from '../swarm/index.ts'
import { type CreditsOptions, creditsForClient, creditsForServer } from './credits.ts'
import { Ledger } from './ledger.ts'
import type { ServerCreditPolicy } from './policy.ts'
import { SqliteStore } from './sqlite.ts'

export const LEDGER_FILE = 'ledger.sqlite'
/** the account's key in a data directory (also a server's libp2p key) */
export const KEY_FILE = 'peer.key'

export interface NodeCreditsOptions {
  /** where the ledger lives (ledger.sqlite); none: in memory, for as long as the process */
  dataDir?: string
  /** a new identity's proof-of-work bits for its grant; default 0 (no grant) */
  grantBits?: number
  /** told of the ledger once it exists (tests, metrics) */
  onLedger?: CreditsOptions['onLedger']
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

/** For SwarmServer.start({ credits }): the server charges `policy.price` per block-token. */
export function serverCredits (options: NodeCreditsOptions & { policy?: Partial<ServerCreditPolicy> }): ServerCreditsFactory {
  return creditsForServer({ ...options, open: async signer => await openLedger(signer, options) })
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
  const dir = options.dataDir
  return creditsForClient({
    ...options,
    open: async signer => await openLedger(signer, options),
    signer: dir === undefined ? undefined : async () => keySigner(await loadOrCreateKey(join(dir, KEY_FILE)))
  })
}

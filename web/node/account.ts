/**
 * A tab's account: its peer key and its ledger, kept in IndexedDB, so a reloaded tab is the same
 * peer with the same balance. The ledger is the memory store of src/ledger written through to one
 * object store per table (the tables of the native node's SQLite), each batch of rows in one
 * transaction with strict durability: the ledger awaits it before any block it signed leaves.
 *
 * Two tabs of one browser profile must not share an account: both would sign block n, a fork every
 * honest peer refuses for good. So accounts sit in numbered slots, each held by one tab at a time
 * (a Web Lock, released when the tab closes or crashes): the first tab gets slot 0, a second one
 * open beside it slot 1, and so on; past the last slot a tab gets an account that lasts as long as it.
 */
import { MemoryStore } from '../../src/ledger/memory.ts'
import { type Change, TABLES } from '../../src/ledger/memory.ts'
import { keyFromBytes, keyToBytes, newKey } from '../../src/net/index.ts'
import { logger } from '../../src/util/log.ts'

const log = logger('web:account')

/** accounts one browser profile keeps */
export const SLOTS = 8
/** how long a tab waits for a slot another page holds before it tries the next */
const LOCK_WAIT_MS = 1500
/** other accounts' blocks a tab remembers (as a witness), at most */
const MAX_SEEN = 20_000

type PeerKey = Awaited<ReturnType<typeof newKey>>

export interface TabAccount {
  /** which of the profile's accounts; undefined: a new one that lasts as long as this tab */
  readonly slot: number | undefined
  readonly key: PeerKey
  readonly store: MemoryStore
  /** flushes the ledger and lets another tab take the slot */
  close (): Promise<void>
}

/** Opens the first free slot's account (made on first use). */
export async function openAccount (options: { slots?: number } = {}): Promise<TabAccount> {
  for (let slot = 0; slot < (options.slots ?? SLOTS); slot++) {
    const release = await tryLock(`gridllm-account-${slot}`, LOCK_WAIT_MS)
    if (release === undefined) continue
    try {
      const db = await openDb(`gridllm-account-${slot}`)
      const key = await loadKey(db)
      const rows = await loadRows(db)
      const store = new MemoryStore({ rows, persist: async changes => { await write(db, changes) }, maxSeen: MAX_SEEN, location: `IndexedDB gridllm-account-${slot}` })
      log('account slot %d: %d rows', slot, rows.length)
      return {
        slot,
        key,
        store,
        close: async () => {
          await store.flush().catch(err => { log('the last rows of slot %d were not written: %s', slot, (err as Error).message) })
          db.close()
          release()
        }
      }
    } catch (err) {
      release()
      throw err
    }
  }
  log('every account slot is taken by another tab: this tab\'s account lasts as long as it does')
  return { slot: undefined, key: await newKey(), store: new MemoryStore({ maxSeen: MAX_SEEN }), close: async () => {} }
}

/**
 * Holds the Web Lock `name` once no one else does, waiting up to `waitMs` (a reloaded page's lock is
 * released as its old document goes, which may be just after the new one asks); resolves to its
 * release, or undefined if another tab holds it.
 */
async function tryLock (name: string, waitMs: number): Promise<(() => void) | undefined> {
  return await new Promise((resolve, reject) => {
    navigator.locks.request(name, { signal: AbortSignal.timeout(waitMs) }, async () => {
      await new Promise<void>(release => { resolve(release) })
    }).catch(err => { if ((err as Error).name === 'TimeoutError' || (err as Error).name === 'AbortError') resolve(undefined); else reject(err) })
  })
}

const KEY_STORE = 'key'

async function openDb (name: string): Promise<IDBDatabase> {
  const req = indexedDB.open(name, 1)
  req.onupgradeneeded = () => {
    for (const t of [KEY_STORE, ...TABLES]) if (!req.result.objectStoreNames.contains(t)) req.result.createObjectStore(t)
  }
  return await done(req)
}

async function loadKey (db: IDBDatabase): Promise<PeerKey> {
  const tx = db.transaction(KEY_STORE, 'readonly')
  const bytes = await done(tx.objectStore(KEY_STORE).get('peer')) as Uint8Array | undefined
  if (bytes !== undefined) return keyFromBytes(bytes)
  const key = await newKey()
  // a new transaction: the one above closed while the key was made
  const put = db.transaction(KEY_STORE, 'readwrite', { durability: 'strict' })
  put.objectStore(KEY_STORE).add(keyToBytes(key), 'peer')
  await committed(put)
  return key
}

/** every table's rows, in key order (seen: oldest first, the order it forgets them in) */
async function loadRows (db: IDBDatabase): Promise<Change[]> {
  const tx = db.transaction([...TABLES], 'readonly')
  const rows: Change[] = []
  for (const table of TABLES) {
    const store = tx.objectStore(table)
    const [keys, values] = await Promise.all([done(store.getAllKeys()), done(store.getAll())])
    const part = keys.map((key, i) => ({ table, key: String(key), value: values[i] }))
    if (table === 'seen') part.sort((a, b) => (a.value as { at: number }).at - (b.value as { at: number }).at)
    rows.push(...part)
  }
  return rows
}

/** one batch of rows, in one transaction: all of it or none */
async function write (db: IDBDatabase, changes: readonly Change[]): Promise<void> {
  const tx = db.transaction([...new Set(changes.map(c => c.table))], 'readwrite', { durability: 'strict' })
  for (const c of changes) {
    const store = tx.objectStore(c.table)
    if (c.value === undefined) store.delete(c.key)
    else store.put(c.value, c.key)
  }
  await committed(tx)
}

async function done<T> (req: IDBRequest<T>): Promise<T> {
  return await new Promise((resolve, reject) => {
    req.onsuccess = () => { resolve(req.result) }
    req.onerror = () => { reject(req.error ?? new Error('an IndexedDB request failed')) }
  })
}

async function committed (tx: IDBTransaction): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    tx.oncomplete = () => { resolve() }
    tx.onerror = () => { reject(tx.error ?? new Error('an IndexedDB transaction failed')) }
    tx.onabort = () => { reject(tx.error ?? new Error('an IndexedDB transaction was aborted')) }
  })
}

/**
 * Crashes: a `gridllm serve` process settling with a client every few tokens is killed with SIGKILL
 * at a random moment, twenty times, and restarted on the same data directory (and port). It comes
 * back as the same peer with the same balance; afterwards both ledgers verify (`gridllm credits
 * verify`), no settlement is half-written or written twice, and every credit the client paid
 * reached the server: nothing was lost.
 */
import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { LEDGER_FILE, SqliteStore, auditLedger } from '../../src/ledger/index.ts'
import { ROOT, STORIES, type ServerProcess, greedyIds, startServer, stopServers, tempDir } from '../swarm/harness.ts'
import { payingClient } from './swarm.ts'

const KILLS = 20
const run = promisify(execFile)
const gridllm = async (...args: string[]): Promise<{ code: number, stdout: string }> => {
  try {
    const { stdout } = await run(process.execPath, [join(ROOT, 'bin/gridllm.mjs'), ...args], { cwd: ROOT })
    return { code: 0, stdout }
  } catch (err) {
    return { code: (err as { code: number }).code, stdout: (err as { stdout: string }).stdout }
  }
}

describe('kill -9 of a server in the middle of settlements', () => {
  const serverDir = tempDir()
  const clientDir = tempDir()
  let server: ServerProcess | undefined
  let listen = '/ip4/127.0.0.1/tcp/0'
  // settle every few tokens: 15 µcr per token (3 × 5 blocks), a threshold of 60 µcr
  const start = async (): Promise<ServerProcess> => await startServer(STORIES, ['--blocks', '0:5', '--data-dir', serverDir.path, '--price', '3', '--pay-threshold', '0.00006'], { listen })

  before(async () => {
    server = await start()
    listen = server.addr.slice(0, server.addr.lastIndexOf('/p2p/'))
  })

  after(async () => {
    if (server !== undefined) await stopServers([server])
    serverDir.remove()
    clientDir.remove()
  })

  test(`${KILLS} kills at random moments: the ledgers verify, nothing is lost or written twice`, async () => {
    const peer = server!.peer
    let requests = 0
    for (let kill = 0; kill < KILLS; kill++) {
      const client = await payingClient([server!.addr], 1, { dataDir: clientDir.path })
      const victim = server!
      const at = 100 + Math.floor(Math.random() * 900)
      const timer = setTimeout(() => { victim.proc.kill('SIGKILL') }, at)
      // generate (and settle) until the server dies under us
      while (victim.proc.exitCode === null && victim.proc.signalCode === null) {
        await greedyIds(client.model, ['Once upon a time', 'Lily', 'The sun'][requests++ % 3]!, 12).catch(() => {})
      }
      clearTimeout(timer)
      await victim.exited
      await client.model.close()
      server = await start()
      assert.equal(server.peer, peer, 'the restarted server is the same peer')
    }
    // the client sends what is still pending to the restarted server
    const client = await payingClient([server!.addr], 1, { dataDir: clientDir.path })
    for (let t = 0; t < 100 && client.books.ledger.store.pending().length > 0; t++) {
      await client.books.wallet!.retryPending()
      await new Promise(resolve => setTimeout(resolve, 100))
    }
    assert.equal(client.books.ledger.store.pending().length, 0, 'every settlement was agreed to in the end')
    await client.model.close()
    await stopServers([server!])
    server = undefined

    for (const dir of [serverDir.path, clientDir.path]) {
      const verified = await gridllm('credits', 'verify', '--data-dir', dir)
      assert.equal(verified.code, 0, verified.stdout)
    }
    const s = JSON.parse((await gridllm('credits', '--json', '--data-dir', serverDir.path)).stdout) as { peer: string, earned: number, balance: number }
    const c = JSON.parse((await gridllm('credits', '--json', '--data-dir', clientDir.path)).stdout) as { spent: number, balance: number }
    assert.equal(s.peer, peer)
    assert.ok(s.earned > 0)
    assert.equal(s.earned, c.spent, 'every credit the client paid reached the server')

    const books = [new SqliteStore(join(serverDir.path, LEDGER_FILE)), new SqliteStore(join(clientDir.path, LEDGER_FILE))]
    try {
      const [mine, theirs] = books.map(b => b.recent(1_000_000)) as [ReturnType<SqliteStore['recent']>, ReturnType<SqliteStore['recent']>]
      assert.equal(new Set(mine.map(r => r.receipt)).size, mine.length, 'no receipt settled twice')
      assert.deepEqual(mine.map(r => r.receipt).sort(), theirs.map(r => r.receipt).sort(), 'the same settlements on both sides')
      for (const b of books) assert.deepEqual((await auditLedger(b)).problems, [])
      assert.ok(mine.length > KILLS, `${mine.length} settlements`)
    } finally {
      for (const b of books) b.close()
    }
  })
})

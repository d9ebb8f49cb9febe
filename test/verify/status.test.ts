/**
 * `gridllm status` shows what verification knows: per server audits passed and failed, reputation,
 * and `convicted: true` with the proof's id, from a client's data directory, and from the proofs
 * published in the swarm when it has the model's weights to check them.
 */
import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { loadSwarmModel } from '../../src/swarm/index.ts'
import { type Verifier, verification } from '../../src/verify/index.ts'
import { ROOT, STORIES, greedyIds, tempDir } from '../swarm/harness.ts'
import { kinds } from './kinds.ts'
import { ALWAYS, TestSwarm } from './swarm.ts'

interface JsonServer { peer: string, trust?: { audits: { passed: number, failed: number }, reputation: number, convicted: boolean, proof?: string } }

describe('status shows audits and convictions', () => {
  let swarm: TestSwarm
  let cheater: string
  let proof: string
  const dir = tempDir()

  before(async () => {
    swarm = await TestSwarm.start()
    cheater = (await swarm.suspect(kinds.zeros())).node.peerId
    let verifier: Verifier | undefined
    const model = await loadSwarmModel(STORIES, { bootstrap: swarm.bootstrap, watcher: verification({ mode: 'sample', policy: ALWAYS, dataDir: dir.path, onVerifier: v => { verifier = v } }) })
    try {
      for (let i = 0; i < 5 && verifier!.book.isConvicted(cheater) === false; i++) { await greedyIds(model, 'Lily', 10); await verifier!.idle() }
      proof = verifier!.book.get(cheater).convicted!
      assert.ok(proof !== undefined, 'the client convicted the cheater')
    } finally {
      await model.close()
    }
  })

  after(async () => {
    await swarm?.stop()
    dir.remove()
  })

  const status = async (args: string[]): Promise<JsonServer[]> => {
    const { stdout } = await promisify(execFile)(process.execPath, [join(ROOT, 'bin/gridllm.mjs'), 'status', '--bootstrap', swarm.bootstrap[0]!, '--json', ...args], { cwd: ROOT })
    return (JSON.parse(stdout) as { models: Array<{ servers: JsonServer[] }> }).models.flatMap(m => m.servers)
  }

  test('from the data directory of the client that convicted it', async () => {
    const servers = await status(['--data-dir', dir.path])
    const c = servers.find(s => s.peer === cheater)
    assert.equal(c?.trust?.convicted, true)
    assert.equal(c?.trust?.proof, proof)
    const audited = servers.filter(s => s.peer !== cheater && (s.trust?.audits.passed ?? 0) > 0)
    assert.ok(audited.length > 0, 'honest servers show passed audits')
    for (const s of audited) assert.equal(s.trust!.convicted, false)
  })

  test('from the proofs published in the swarm, checked with the model\'s weights', async () => {
    const servers = await status(['--model', STORIES])
    const c = servers.find(s => s.peer === cheater)
    assert.equal(c?.trust?.convicted, true)
    assert.equal(c?.trust?.proof, proof)
    const { stdout } = await promisify(execFile)(process.execPath, [join(ROOT, 'bin/gridllm.mjs'), 'status', '--bootstrap', swarm.bootstrap[0]!, '--model', STORIES], { cwd: ROOT })
    assert.match(stdout, new RegExp(`server ${cheater.slice(-8)}.*CONVICTED \\(proof ${proof.slice(0, 16)}\\)`))
  })
})

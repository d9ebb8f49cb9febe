import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { splitLayers } from './demo.ts'
import { Supervisor } from './supervise.ts'

/** A node child running `code`. */
const node = (name: string, code: string) => ({ name, command: process.execPath, args: ['-e', code] })
const LISTENS = "console.log('starting'); setTimeout(() => console.log('listening fake://' + process.pid), 50); setInterval(() => {}, 1000)"

function alive (pid: number): boolean {
  try { process.kill(pid, 0); return true } catch { return false }
}

describe('Supervisor', () => {
  test('ready resolves with the address from the "listening" line; stopAll leaves no process', async () => {
    const sup = new Supervisor()
    const children = [sup.start(node('a', LISTENS)), sup.start(node('b', LISTENS))]
    const addresses = await Promise.all(children.map(async c => await c.ready))
    assert.deepEqual(addresses, children.map(c => `fake://${c.pid}`))
    await sup.stopAll()
    for (const c of children) assert.ok(!alive(c.pid!), `${c.spec.name} is gone`)
  })

  test('a child that ignores SIGTERM is killed after the grace period', async () => {
    const sup = new Supervisor()
    const stubborn = sup.start(node('stubborn', `process.on('SIGTERM', () => {}); ${LISTENS}`))
    await stubborn.ready
    const t0 = performance.now()
    await sup.stopAll(300)
    assert.ok(performance.now() - t0 >= 250)
    assert.equal(await stubborn.exited, 'SIGKILL')
    assert.ok(!alive(stubborn.pid!))
  })

  test('a child that dies before it is ready: ready rejects with its stderr', async () => {
    const sup = new Supervisor()
    const bad = sup.start(node('bad', "console.error('gridllm: unknown command \"serve\"'); process.exit(2)"))
    await assert.rejects(bad.ready, (err: Error) => /bad exited \(2\) before it was ready:\n {2}gridllm: unknown command "serve"/.test(err.message))
    await assert.rejects(sup.died, /bad exited unexpectedly \(2\)/)
    await sup.stopAll()
  })

  test('died rejects when a running child exits; not when the supervisor stops it', async () => {
    const sup = new Supervisor()
    const quitter = sup.start(node('quitter', "console.log('listening x'); setTimeout(() => process.exit(3), 100)"))
    await quitter.ready
    await assert.rejects(sup.died, /quitter exited unexpectedly \(3\)/)

    const calm = new Supervisor()
    await calm.start(node('calm', LISTENS)).ready
    let died = false
    calm.died.catch(() => { died = true })
    await calm.stopAll()
    await new Promise(resolve => setTimeout(resolve, 50))
    assert.equal(died, false)
  })
})

test('splitLayers: consecutive, as even as can be, covering every layer', () => {
  assert.deepEqual(splitLayers(5, 3), [[0, 2], [2, 4], [4, 5]])
  assert.deepEqual(splitLayers(30, 3), [[0, 10], [10, 20], [20, 30]])
  assert.deepEqual(splitLayers(2, 1), [[0, 2]])
  assert.throws(() => splitLayers(2, 3), { code: 'INVALID_ARGUMENT' })
})

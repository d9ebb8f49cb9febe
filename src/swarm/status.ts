/** The swarm as a client sees it: models, servers, per-block coverage. */
import type { Directory, ServerInfo } from './directory.ts'

export interface ModelStatus {
  readonly model: string
  readonly name: string
  readonly nLayers: number
  /** every server found: joining, online, or offline (announced so, or not answering now) */
  readonly servers: readonly ServerInfo[]
  /** per block, the servers covering it (offline ones cover nothing) */
  readonly blocks: ReadonlyArray<readonly ServerInfo[]>
  readonly uncovered: readonly number[]
}

export interface SwarmStatus {
  readonly models: readonly ModelStatus[]
  /** per server peer id: what verification knows of it, where known */
  readonly trust?: Readonly<Record<string, TrustSummary>>
}

/** A server's record as this node's verification knows it. */
export interface TrustSummary {
  readonly audits: { readonly passed: number, readonly failed: number }
  /** 0..1 */
  readonly reputation: number
  readonly convicted: boolean
  /** the id of the checked fraud proof that convicts it */
  readonly proof?: string
  /** published proofs against it that were not checked here (no weights to check them) */
  readonly unchecked?: number
}

export function summarize (servers: readonly ServerInfo[]): SwarmStatus {
  const byModel = new Map<string, ServerInfo[]>()
  for (const s of servers) byModel.set(s.model, [...(byModel.get(s.model) ?? []), s])
  const models = [...byModel].map(([model, list]) => {
    const nLayers = Math.max(...list.map(s => s.nLayers))
    const sorted = list.sort((a, b) => a.start - b.start || a.end - b.end || a.peer.localeCompare(b.peer))
    const blocks = Array.from({ length: nLayers }, (_, b) => sorted.filter(s => s.state !== 'offline' && s.start <= b && b < s.end))
    return { model, name: list[0]!.modelName, nLayers, servers: sorted, blocks, uncovered: blocks.flatMap((l, b) => l.length === 0 ? [b] : []) }
  })
  return { models: models.sort((a, b) => a.name.localeCompare(b.name)) }
}

export interface StatusOptions {
  signal?: AbortSignal
  /**
   * Asks a server whether it is alive (e.g. a ping with a short timeout); one that does not answer
   * is shown offline, whatever its record says, so a server that died shows so within seconds.
   */
  probe?: (server: ServerInfo) => Promise<boolean>
}

export async function swarmStatus (directory: Directory, options: StatusOptions = {}): Promise<SwarmStatus> {
  const found = await directory.allServers(options)
  const { probe } = options
  if (probe === undefined) return summarize(found)
  const checked = await Promise.all(found.map(async s => s.state === 'offline' || await probe(s) ? s : { ...s, state: 'offline' as const }))
  return summarize(checked)
}

const short = (peer: string): string => peer.slice(-8)

function trustText (t: TrustSummary | undefined): string {
  if (t === undefined) return ''
  if (t.convicted) return `  CONVICTED (proof ${t.proof?.slice(0, 16) ?? '?'})`
  const unchecked = (t.unchecked ?? 0) > 0 ? `, ${t.unchecked} unchecked accusation${t.unchecked === 1 ? '' : 's'}` : ''
  return `  audits ${t.audits.passed} passed ${t.audits.failed} failed, reputation ${t.reputation.toFixed(2)}${unchecked}`
}

export function formatStatus (status: SwarmStatus): string {
  if (status.models.length === 0) return 'no servers found\n'
  const lines: string[] = []
  for (const m of status.models) {
    const offline = m.servers.filter(s => s.state === 'offline').length
    lines.push(`model ${m.name} (${m.model}), ${m.nLayers} blocks, ${m.servers.length} server${m.servers.length === 1 ? '' : 's'}${offline > 0 ? ` (${offline} offline)` : ''}`)
    for (const s of m.servers) {
      const name = s.name === '' ? '' : ` "${s.name}"`
      lines.push(`  server ${short(s.peer)}${name}  blocks ${s.start}:${s.end}  ${s.state}  ${s.platform ?? 'node'}  ${s.throughput.toFixed(2)} tok/s  cache ${s.freeCacheTokens} tokens  v${s.version}${trustText(status.trust?.[s.peer])}`)
    }
    m.blocks.forEach((list, b) => {
      const total = list.reduce((sum, s) => sum + s.throughput, 0)
      const who = list.map(s => `${short(s.peer)} (${s.throughput.toFixed(2)} tok/s, cache ${s.freeCacheTokens})`).join(', ')
      lines.push(`  block ${b}: ${list.length === 0 ? 'UNCOVERED' : `${total.toFixed(2)} tok/s from ${who}`}`)
    })
    lines.push(m.uncovered.length === 0 ? '  every block is covered' : `  uncovered blocks: ${m.uncovered.join(', ')}`)
  }
  return lines.join('\n') + '\n'
}

/** The swarm as a client sees it: models, servers, per-block coverage. */
import type { Directory, ServerInfo } from './directory.ts'

export interface ModelStatus {
  readonly model: string
  readonly name: string
  readonly nLayers: number
  /** servers that are joining or online */
  readonly servers: readonly ServerInfo[]
  /** per block, the servers covering it */
  readonly blocks: ReadonlyArray<readonly ServerInfo[]>
  readonly uncovered: readonly number[]
}

export interface SwarmStatus {
  readonly models: readonly ModelStatus[]
}

export function summarize (servers: readonly ServerInfo[]): SwarmStatus {
  const byModel = new Map<string, ServerInfo[]>()
  for (const s of servers) {
    if (s.state === 'offline') continue
    byModel.set(s.model, [...(byModel.get(s.model) ?? []), s])
  }
  const models = [...byModel].map(([model, list]) => {
    const nLayers = Math.max(...list.map(s => s.nLayers))
    const sorted = list.sort((a, b) => a.start - b.start || a.end - b.end || a.peer.localeCompare(b.peer))
    const blocks = Array.from({ length: nLayers }, (_, b) => sorted.filter(s => s.start <= b && b < s.end))
    return { model, name: list[0]!.modelName, nLayers, servers: sorted, blocks, uncovered: blocks.flatMap((l, b) => l.length === 0 ? [b] : []) }
  })
  return { models: models.sort((a, b) => a.name.localeCompare(b.name)) }
}

export async function swarmStatus (directory: Directory, options: { signal?: AbortSignal } = {}): Promise<SwarmStatus> {
  return summarize(await directory.allServers(options))
}

const short = (peer: string): string => peer.slice(-8)

export function formatStatus (status: SwarmStatus): string {
  if (status.models.length === 0) return 'no servers found\n'
  const lines: string[] = []
  for (const m of status.models) {
    lines.push(`model ${m.name} (${m.model}), ${m.nLayers} blocks, ${m.servers.length} server${m.servers.length === 1 ? '' : 's'}`)
    for (const s of m.servers) {
      const name = s.name === '' ? '' : ` "${s.name}"`
      lines.push(`  server ${short(s.peer)}${name}  blocks ${s.start}:${s.end}  ${s.state}  ${s.platform ?? 'node'}  ${s.throughput.toFixed(2)} tok/s  cache ${s.freeCacheTokens} tokens  v${s.version}`)
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

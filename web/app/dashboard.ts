/**
 * The swarm, live: per model its servers and a blocks × servers coverage map (platform, announced
 * throughput, open sessions, credits earned as each server reports it, this tab's round trip to
 * each), the blocks nobody serves, and the route of the current chat request highlighted.
 */
import type { LedgerSummary } from '../../src/ledger/ledger.ts'
import { formatCredits } from '../../src/ledger/policy.ts'
import type { ModelStatus, RouteEvent, ServerInfo, SwarmStatus } from '../../src/swarm/index.ts'
import { byId, h, short } from './dom.ts'

export interface DashboardState {
  readonly status: SwarmStatus
  /** this tab's round trips, ms, by peer */
  readonly rtts: ReadonlyMap<string, number>
  /** the last route the chat took */
  readonly route: RouteEvent | undefined
  /** this tab's peer id (its own row is marked) */
  readonly self: string
}

const PLATFORM_LABEL = { node: 'native', browser: 'browser' } as const

function platformOf (s: ServerInfo): 'node' | 'browser' {
  return s.platform ?? 'node'
}

function serverRow (m: ModelStatus, s: ServerInfo, state: DashboardState): HTMLTableRowElement {
  const p = platformOf(s)
  const inRoute = state.route?.hops.some(hop => hop.peer === s.peer) === true
  const rtt = state.rtts.get(s.peer)
  const cells: HTMLElement[] = [
    h('th', { scope: 'row', title: s.peer }, s.name !== '' ? `${s.name} ${short(s.peer)}` : short(s.peer)),
    h('td', { class: 'text' }, h('span', { class: `badge ${p}` }, PLATFORM_LABEL[p])),
    h('td', {}, s.throughput.toFixed(1)),
    h('td', { class: 'wide-only' }, s.sessions ?? '–'),
    h('td', { class: 'wide-only earned', 'data-earned': s.earned ?? '' }, s.earned === undefined ? '–' : formatCredits(s.earned)),
    h('td', { class: 'wide-only' }, rtt === undefined ? '–' : rtt.toFixed(1))
  ]
  for (let b = 0; b < m.nLayers; b++) {
    const on = s.start <= b && b < s.end
    cells.push(h('td', { class: on ? 'block on' : 'block', 'aria-label': on ? `serves block ${b}` : `not block ${b}` }, on ? '■' : ''))
  }
  const classes = [p, inRoute ? 'in-route' : '', s.peer === state.self ? 'self' : ''].filter(c => c !== '').join(' ')
  return h('tr', { class: classes, 'data-peer': s.peer, 'data-platform': p, 'data-span': `${s.start}:${s.end}` }, ...cells)
}

function modelSection (m: ModelStatus, state: DashboardState): HTMLElement {
  const browsers = m.servers.filter(s => platformOf(s) === 'browser').length
  const weakest = Math.min(...m.blocks.map(list => list.reduce((sum, s) => sum + s.throughput, 0)))
  const id = `coverage-${m.model.slice(0, 12)}`
  const head = h('tr', {},
    h('th', { scope: 'col', class: 'text' }, 'Server'),
    h('th', { scope: 'col', class: 'text' }, 'Platform'),
    h('th', { scope: 'col', title: 'announced single-token steps per second through its span' }, 'tok/s'),
    h('th', { scope: 'col', class: 'wide-only' }, 'Sessions'),
    h('th', { scope: 'col', class: 'wide-only', title: 'credits earned, as the server reports it in its signed record (not checked)' }, 'Earned*'),
    h('th', { scope: 'col', class: 'wide-only', title: 'round trip from this tab' }, 'RTT ms'),
    ...Array.from({ length: m.nLayers }, (_, b) => h('th', { scope: 'col', class: 'block' }, b)))
  const foot = h('tr', {},
    h('th', { scope: 'row' }, 'Servers per block'), h('td', {}), h('td', {}), h('td', { class: 'wide-only' }), h('td', { class: 'wide-only' }), h('td', { class: 'wide-only' }),
    ...m.blocks.map((list, b) => h('td', { class: list.length === 0 ? 'block gap' : 'block', 'aria-label': `block ${b}: ${list.length} servers` }, list.length)))
  const table = h('table', { class: 'coverage', id, 'data-model': m.model, 'aria-describedby': `${id}-summary` },
    h('caption', {}, `Which server serves which of the ${m.nLayers} blocks of ${m.name}`),
    h('thead', {}, head),
    h('tbody', {}, ...m.servers.map(s => serverRow(m, s, state))),
    h('tfoot', {}, foot))
  return h('article', { class: 'model', 'aria-label': `model ${m.name}` },
    h('h3', {}, m.name, ' ', h('code', { title: m.model }, m.model.slice(0, 12))),
    h('p', { class: 'summary', id: `${id}-summary` },
      h('span', {}, `${m.servers.length} server${m.servers.length === 1 ? '' : 's'} (${browsers} in browsers)`),
      h('span', {}, `${m.nLayers} blocks`),
      h('span', {}, m.uncovered.length === 0 ? `weakest block ${weakest.toFixed(1)} tok/s` : `uncovered: ${m.uncovered.join(', ')}`)),
    h('div', { class: 'table-wrap', tabindex: 0, role: 'region', 'aria-label': `coverage map of ${m.name}` }, table),
    h('p', { class: 'muted note' }, '* Earned: credits each server reports it has earned, in its own signed record; no one checks the figure.'))
}

export function renderDashboard (state: DashboardState): void {
  const root = byId('models')
  if (state.status.models.length === 0) {
    root.replaceChildren(h('p', { class: 'muted' }, 'No servers seen yet.'))
    return
  }
  root.replaceChildren(...state.status.models.map(m => modelSection(m, state)))
}

export function renderRoute (route: RouteEvent | undefined, servers: readonly ServerInfo[]): void {
  const el = byId('route')
  if (route === undefined) return
  const who = (peer: string): string => {
    const s = servers.find(x => x.peer === peer)
    return `${platformOf(s ?? ({} as ServerInfo)) === 'browser' ? 'tab' : 'node'} ${short(peer)}`
  }
  const hops = route.hops.flatMap((hop, i) => [i > 0 ? ' → ' : '', h('span', { class: 'hop', 'data-peer': hop.peer }, `${who(hop.peer)} [${hop.start}:${hop.end})`)])
  el.replaceChildren(h('span', { class: 'muted' }, route.reason === 'failover' ? 'Route after failover: ' : 'Route: '), ...hops)
}

/** This tab's account: what it holds, earned serving and spent chatting, kept in this browser. */
export function renderCredits (c: LedgerSummary & { slot: number | undefined }): void {
  const el = byId('credits')
  const row = (term: string, value: string, title?: string): HTMLElement[] => [h('dt', {}, term), h('dd', title === undefined ? {} : { title }, value)]
  el.replaceChildren(
    ...row('Balance', `${formatCredits(c.balance)} cr`),
    ...row('Earned serving', `${formatCredits(c.earned)} cr`, `${c.payeeSettlements} settlements`),
    ...row('Spent chatting', `${formatCredits(c.spent)} cr`, `${c.payerSettlements} settlements, ${c.pending} awaiting the server's agreement`),
    ...row('Minted', `${formatCredits(c.minted)} cr`, 'the new account\'s grant, and audited work'),
    ...row('Chain', `${c.head.seq + 1} blocks`, c.head.hash))
  Object.assign(el.dataset, { balance: String(c.balance), earned: String(c.earned), spent: String(c.spent), blocks: String(c.head.seq + 1), pending: String(c.pending) })
  byId('credits-note').textContent = c.slot === undefined
    ? 'Every account this browser keeps is in use by another tab: this tab\'s account lasts only as long as the tab.'
    : `Kept in this browser (account ${c.slot + 1}): reloading keeps this peer and its balance. A donor's requests go first when the swarm is busy.`
}

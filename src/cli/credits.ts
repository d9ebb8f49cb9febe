import { join } from 'node:path'
import { existsSync } from 'node:fs'
import { LEDGER_FILE, SqliteStore, auditLedger, blockHash, credits, formatCredits } from '../ledger/index.ts'
import { GridError, PaymentError } from '../util/errors.ts'
import { type Command, type CommandContext, UsageError, int, parse } from './command.ts'
import { dataDir } from './data-dir.ts'

const usage = `Usage: gridllm credits [verify] [options]

Shows this node's credit account: balance, earned and spent, recent settlements and the head of
its chain. Donors earn credits for verified work (gridllm serve), borrowers spend them (generate,
chat and api over a swarm); see docs/credits.md.

  gridllm credits            the account
  gridllm credits verify     checks the whole chain and every signature; exit status 0 only if all hold

Options:
      --data-dir <dir>       the node's data directory (default ~/.gridllm)
      --json                 print one JSON object (amounts in credits)
  -n, --recent <N>           settlements to list (default 10)
  -h, --help                 show this help
`

function openStore (dir: string): SqliteStore {
  const file = join(dir, LEDGER_FILE)
  if (!existsSync(file)) throw new GridError('FILE_NOT_FOUND', `no ledger in ${dir} (a node makes one the first time it serves or uses a swarm with this --data-dir)`)
  return new SqliteStore(file)
}

/** The account as `gridllm credits --json` prints it: amounts in credits. */
export function accountJson (store: SqliteStore, recent: number): Record<string, unknown> {
  const head = store.head()
  if (head === undefined) throw new PaymentError('LEDGER_INVALID', 'the ledger has no blocks')
  const t = store.totals()
  return {
    peer: store.meta('account') ?? head.account,
    balance: credits(head.balance),
    earned: credits(t.earned),
    spent: credits(t.spent),
    minted: credits(t.minted),
    slashed: credits(t.slashed),
    blocks: t.blocks,
    head: { seq: head.seq, hash: blockHash(head) },
    pending: store.pending().length,
    refused: store.forks(),
    settlements: store.recent(recent).map(s => ({ role: s.role, counterparty: s.counterparty, amount: credits(s.amount), tokens: s.to - s.from, seq: s.seq, at: new Date(s.at).toISOString(), agreed: s.theirs !== undefined }))
  }
}

export const creditsCommand: Command = {
  name: 'credits',
  summary: 'show this node\'s credits (balance, earned, spent, settlements) or verify its ledger',
  usage,
  async run (argv: string[], ctx: CommandContext): Promise<number> {
    const { values: v, positionals } = parse(argv, {
      'data-dir': { type: 'string' },
      json: { type: 'boolean' },
      recent: { type: 'string', short: 'n' }
    }, usage, true)
    if (v.help === true) { ctx.stdout.write(usage); return 0 }
    if (positionals.length > 1 || (positionals.length === 1 && positionals[0] !== 'verify')) throw new UsageError(`unknown argument "${positionals.join(' ')}"`, usage)
    const store = openStore(dataDir(v['data-dir'], ctx.env))
    try {
      if (positionals[0] === 'verify') {
        const report = await auditLedger(store)
        if (v.json === true) ctx.stdout.write(`${JSON.stringify(report)}\n`)
        else {
          ctx.stdout.write(`${report.account ?? '?'}: ${report.blocks} blocks, ${report.settlements} settlements (${report.pending} awaiting agreement)\n`)
          for (const p of report.problems) ctx.stdout.write(`  ${p}\n`)
          ctx.stdout.write(report.ok ? 'every block and signature holds\n' : `${report.problems.length} problem${report.problems.length === 1 ? '' : 's'}\n`)
        }
        return report.ok ? 0 : 1
      }
      const a = accountJson(store, int('recent', v.recent) ?? 10)
      if (v.json === true) { ctx.stdout.write(`${JSON.stringify(a)}\n`); return 0 }
      const head = a.head as { seq: number, hash: string }
      const lines = [
        `account  ${String(a.peer)}`,
        `balance  ${fmt(a.balance)} credits`,
        `earned   ${fmt(a.earned)}   spent ${fmt(a.spent)}   minted ${fmt(a.minted)}   slashed ${fmt(a.slashed)}`,
        `chain    ${String(a.blocks)} blocks, head ${head.seq} ${head.hash.slice(0, 16)}${(a.pending as number) > 0 ? `, ${String(a.pending)} settlements awaiting agreement` : ''}`
      ]
      const list = a.settlements as Array<{ role: string, counterparty: string, amount: number, tokens: number, at: string, agreed: boolean }>
      if (list.length > 0) lines.push('recent settlements:')
      for (const s of list) lines.push(`  ${s.at}  ${s.role === 'payer' ? 'paid  ' : 'earned'} ${fmt(s.amount).padStart(12)}  ${s.role === 'payer' ? 'to' : 'from'} ${s.counterparty.slice(-8)}  ${s.tokens} tokens${s.agreed ? '' : '  (awaiting agreement)'}`)
      ctx.stdout.write(lines.join('\n') + '\n')
      return 0
    } finally {
      store.close()
    }
  }
}

const fmt = (c: unknown): string => formatCredits(Math.round((c as number) * 1_000_000))

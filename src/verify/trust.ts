/**
 * What `gridllm status` shows of each server's honesty: this node's reputation book (audits passed
 * and failed, score, convictions it checked) and the fraud proofs published against it in the swarm,
 * checked by recomputation when this node has the model's weights.
 */
import { type NetNode, findProofs } from '../net/index.ts'
import type { ServerInfo, TrustSummary } from '../swarm/index.ts'
import { logger } from '../util/log.ts'
import { checkProof, openProof } from './proof.ts'
import type { Recomputer } from './recompute.ts'
import type { ReputationBook } from './reputation.ts'

const log = logger('verify:trust')

export async function trustSummaries (servers: readonly ServerInfo[], book: ReputationBook, node: NetNode,
  recomputer: Recomputer | undefined, options: { signal?: AbortSignal } = {}): Promise<Record<string, TrustSummary>> {
  const out: Record<string, TrustSummary> = {}
  await Promise.all(servers.map(async s => {
    let standing = book.get(s.peer)
    let unchecked = 0
    for (const [accuser, bytes] of await findProofs(node, s.peer, options).catch(() => [])) {
      if (standing.convicted !== undefined) break
      try {
        const { proof, id } = await openProof(bytes)
        if (proof.accuser !== accuser || proof.suspect !== s.peer) continue
        if (recomputer === undefined || proof.model !== recomputer.modelId) { unchecked++; continue }
        if ((await checkProof(proof, recomputer, options)).valid) book.convict(s.peer, id)
        else book.falseAccusation(accuser)
      } catch (err) {
        log('a proof against %s from %s: %s', s.peer.slice(-8), accuser.slice(-8), (err as Error).message)
      }
      standing = book.get(s.peer)
    }
    out[s.peer] = {
      audits: { passed: standing.passed, failed: standing.failed },
      reputation: standing.score,
      convicted: standing.convicted !== undefined,
      ...(standing.convicted !== undefined ? { proof: standing.convicted } : {}),
      ...(unchecked > 0 ? { unchecked } : {})
    }
  }))
  return out
}

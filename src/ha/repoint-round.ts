// The leader keeps the group's replicas pointed at itself (docs/ha.md, "Which replicas are
// repointed"): a replica that follows another instance of the group is held there for ever, since
// followers never relay (-NOMASTERLINK), so whoever leads points it at its own --announce. At the
// start of a term that is the takeover (takeover.ts), retried each poll until every node was seen;
// after it, a poll begins a round whenever the engine's last look at the nodes shows a replica of
// another instance again — an operator's `REPLICAOF <a follower's announce>`, say, or an old
// leader's address. Every REPLICAOF is fenced by the term: a deposed leader sends none. A replica
// of anything else (the master, a foreign server) is never touched here: the engine reports it.
import type { Logger } from 'pino';
import type { ReplicaNode } from '../nodes/replica-node.js';
import { fencedControl } from '../standby/fenced-ops.js';
import type { NodeControl } from '../standby/ports.js';
import type { AddressVerdict } from './address-check.js';
import {
  addressKey,
  groupAddresses,
  repointDue,
  repointReplicas,
  type GroupAddresses,
} from './takeover.js';
import type { Term } from './term.js';

export interface RepointContext {
  /** This instance's --announce. */
  own: string;
  /** The group's other instances seen registered or leading since this one started. */
  others: Iterable<string>;
  nodes: readonly ReplicaNode[];
  /** Unfenced: fenced here by the term and `mayAct`. */
  ops: NodeControl;
  checkAddress: (announce: string) => Promise<AddressVerdict>;
  /** Whether this instance may still act (the Coordination's). */
  mayAct: () => boolean;
  log: Logger;
}

function addressesOf(term: Term, context: RepointContext): GroupAddresses {
  return groupAddresses(context.own, context.others, term.pastLeaders, context.checkAddress);
}

/**
 * Whether a poll should begin a round: the takeover is not done yet, or the engine last saw a
 * node follow another instance of the group.
 */
export function roundDue(term: Term, context: RepointContext): boolean {
  if (!term.settled) return true;
  return repointDue(term.engine.status().nodes, addressesOf(term, context), term.foreign);
}

/** One round: every node that follows another instance of the group is told REPLICAOF this one. */
export async function repointRound(term: Term, context: RepointContext): Promise<void> {
  const takingOver = !term.settled;
  const result = await repointReplicas(
    context.nodes,
    fencedControl(context.ops, () => term.live && context.mayAct()),
    addressesOf(term, context),
  );
  // Only the takeover's rounds go on until every node was seen; a later round is begun again by
  // what the engine sees (roundDue), so a node unreachable meanwhile costs no round every poll.
  if (takingOver) term.settled = result.settled;
  for (const left of result.leftAlone) {
    if (!left.retry) term.foreign.add(addressKey(left.master));
    const seen = `${left.node} ${left.master} ${String(left.retry)}`;
    if (term.leftAlone.has(seen)) continue;
    term.leftAlone.add(seen);
    context.log.warn(
      left,
      "takeover: not repointing a replica that follows a past leader's address",
    );
  }
  if (result.repointed.length === 0) return;
  if (takingOver) {
    context.log.info(
      { repointed: result.repointed },
      'takeover: replicas told REPLICAOF this instance (they PSYNC and continue through it)',
    );
  } else {
    // Not expected while this instance leads: someone pointed it there (or it followed an old
    // leader's address). It PSYNCs here and continues, as at a takeover.
    context.log.warn(
      { repointed: result.repointed },
      'replicas following another instance of the group told REPLICAOF this one',
    );
  }
}

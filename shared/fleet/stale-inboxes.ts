import type { AgentReport } from './report.js';
import type { Inventory } from '../inventory/inventory.js';
import { isReceiving, selects } from '../model/agent.js';
import { deliveryKeyId } from '../agents/envelope.js';
import type { AgentInboxes } from '../agents/inbox.js';
import type { AgentRegistry } from '../agents/registry.js';

/**
 * The agents whose inbox is not what the rule says (by serial and sealing key; the envelope
 * itself is not re-read) or whose report says they refused what it names, and the inboxes
 * of agents that should have none. Read-only: the caller asks for those agents' delivery.
 */
export async function staleInboxes(
  deps: { registry: AgentRegistry; inventory: Inventory; inboxes: AgentInboxes },
  reports: ReadonlyMap<string, AgentReport> = new Map(),
): Promise<{ stale: string[]; orphaned: string[] }> {
  const [agents, records, inboxes] = await Promise.all([
    deps.registry.list(),
    deps.inventory.list(),
    deps.inboxes.list(),
  ]);
  const byAgent = new Map(inboxes.map((i) => [i.agent, i]));
  const receiving = agents.filter(isReceiving);
  const stale: string[] = [];
  for (const agent of receiving) {
    const want = new Map<string, string>();
    for (const r of records) {
      if (r.state.status === 'retired' || !r.state.current) continue;
      if (selects(agent.selector, { name: r.spec.name, labels: r.spec.labels }))
        want.set(r.spec.name, r.state.current.serial);
    }
    const have = byAgent.get(agent.name)?.entries ?? {};
    const keyId = deliveryKeyId(agent.deliveryKey!);
    const same =
      want.size === Object.keys(have).length &&
      [...want].every(([cert, serial]) => have[cert]?.serial === serial && have[cert]?.sealedTo === keyId);
    // An agent that refused what its inbox names (an envelope damaged or replaced in the
    // bucket) gets it sealed and written again: the redelivery does that.
    const refused = Object.entries(reports.get(agent.name)?.certificates ?? {}).some(
      ([cert, d]) =>
        d.lastAction === 'refused' && want.get(cert) !== undefined && d.installedSerial !== want.get(cert),
    );
    if (!same || refused) stale.push(agent.name);
  }
  const names = new Set(receiving.map((a) => a.name));
  return { stale, orphaned: inboxes.map((i) => i.agent).filter((a) => !names.has(a)) };
}

/** The fleet sources as the operator commands open them: the stack's, and a local directory's. */
import { systemClock } from '../../shared/model/clock.js';
import type { OperatorContext } from '../context.js';
import { join } from 'node:path';
import { FileAgentRegistry } from '../../shared/agents/file.js';
import type { AgentRegistry } from '../../shared/agents/registry.js';
import type { AgentReportStore } from '../../shared/fleet/report-store.js';
import { ObjectAgentReports } from '../../shared/fleet/reports-objects.js';
import { type FleetSource, type RegistryAgent, fleetSource } from './source.js';

/** The deployed stack, through the context `connect` made (the operator's credentials). */
export function stackSource(ctx: OperatorContext): FleetSource {
  return fleetSource({
    kind: 'stack',
    location: `s3://${ctx.bucket}, table ${ctx.runtime.env.CERTKEEPER_TABLE}`,
    clock: ctx.clock,
    inventory: ctx.inventory,
    objects: ctx.runtime.objects,
    store: ctx.store,
    agents: () => registryAgents(ctx.registry, ctx.fleet?.reports),
  });
}

/**
 * The registry's agents as the snapshot lists them, with their last report: from the fleet
 * table when it is known, else none (the fleet view's own copy fills in what it saw).
 */
export async function registryAgents(
  registry: AgentRegistry,
  reports: AgentReportStore | undefined,
): Promise<RegistryAgent[]> {
  const [agents, read] = await Promise.all([registry.list(), reports?.list(() => true)]);
  return agents.map((a) => ({
    name: a.name,
    status: a.status,
    selector: {
      certificates: a.selector.certificates,
      labels: Object.keys(a.selector.labels).length ? a.selector.labels : null,
    },
    identity: a.identity ? { serial: a.identity.serial, notAfter: a.identity.notAfter } : null,
    lastReportAt: read?.reports.get(a.name)?.at ?? null,
  }));
}

/** A local-mode directory (`--out DIR`), read as `list --out DIR` reads it; nothing is created. */
export async function localSource(out: string): Promise<FleetSource> {
  // Loaded here: the stack's commands do not need local mode's composition.
  const { openLocalDir } = await import('../../composition/local.js');
  const dir = openLocalDir(out);
  return fleetSource({
    kind: 'local',
    location: dir.root,
    clock: systemClock,
    inventory: dir.inventory,
    objects: dir.objects,
    store: dir.store,
    agents: () =>
      registryAgents(
        new FileAgentRegistry({ dir: join(dir.root, 'registry') }),
        new ObjectAgentReports(dir.objects),
      ),
  });
}

/** The fleet sources as the operator commands open them: the stack's, and a local directory's. */
import { systemClock } from '../../shared/model/clock.js';
import type { OperatorContext } from '../context.js';
import { type FleetSource, fleetSource } from './source.js';

/** The deployed stack, through the context `connect` made (the operator's credentials). */
export function stackSource(ctx: OperatorContext): FleetSource {
  return fleetSource({
    kind: 'stack',
    location: `s3://${ctx.bucket}, table ${ctx.runtime.env.CERTKEEPER_TABLE}`,
    clock: ctx.clock,
    inventory: ctx.inventory,
    objects: ctx.runtime.objects,
    store: ctx.store,
  });
}

/** A local-mode directory (`--out DIR`), read as `list --out DIR` reads it; nothing is created. */
export async function localSource(out: string): Promise<FleetSource> {
  // Loaded here: the stack's commands do not need local mode's composition.
  const { openLocalDir } = await import('../local/compose.js');
  const dir = openLocalDir(out);
  return fleetSource({
    kind: 'local',
    location: dir.root,
    clock: systemClock,
    inventory: dir.inventory,
    objects: dir.objects,
    store: dir.store,
  });
}

import { amendState, type Inventory } from '../inventory/inventory.js';
import { type Clock, systemClock } from '../model/clock.js';
import { type CertificateSpec, parseCertificateSpec } from '../model/spec.js';
import type { Log } from '../model/log.js';
import { initialState } from '../model/state.js';
import { retiredState, revivedState, sameSpec, stateAfterSpecChange } from '../renewal/spec-change.js';
import type { PendingKeys } from '../store/pending-keys.js';
import { dropPendingKey } from './retire-certificate.js';

/**
 * Declares (or updates) one certificate: validates the operator's input, naming the field
 * and the fix on error, and only then writes the spec, so bad input never reaches the
 * inventory and never disturbs the certificate already in place.
 */
export async function declareCertificate(
  inventory: Inventory,
  input: unknown,
  clock: Clock = systemClock,
): Promise<CertificateSpec> {
  const name =
    typeof input === 'object' && input !== null && 'name' in input ? String(input.name) : undefined;
  const spec = parseCertificateSpec(input, name ? `certificates.${name}` : 'certificate');
  await declareSpec(inventory, spec, clock);
  return spec;
}

/**
 * Writes an already validated spec. A new certificate starts with `initialState`, due at
 * once; an equal spec (`sameSpec`) changes nothing; a different one is written together
 * with `stateAfterSpecChange` in one conditional write, so a concurrent declaration or
 * state write is never half-applied. Not fenced: declaring is the operator's act.
 */
export async function declareSpec(
  inventory: Inventory,
  spec: CertificateSpec,
  clock: Clock = systemClock,
): Promise<void> {
  await inventory.update(spec.name, (stored) => {
    const now = clock.now();
    if (!stored) return { spec, state: initialState(now) };
    if (sameSpec(stored.spec, spec)) return undefined;
    return { spec, state: stateAfterSpecChange(stored.state, stored.spec, spec, now) };
  });
}

export interface SyncResult {
  declared: string[];
  revived: string[];
  retired: string[];
}

/**
 * Makes the inventory match a declared list (the deployment config, on every deploy):
 * each spec is declared, a retired one that is declared again comes back, and one no
 * longer declared is retired: out of the schedule, its files and keys kept, never deleted.
 * Only the key kept for an unfinished order goes (with `pendingKeys`): a retired
 * certificate's order is never resumed, and the key would be a second copy of a key.
 */
export async function syncCertificates(
  inventory: Inventory,
  specs: readonly CertificateSpec[],
  clock: Clock,
  retirement: { pendingKeys: PendingKeys; log: Log } | undefined = undefined,
): Promise<SyncResult> {
  const result: SyncResult = { declared: [], revived: [], retired: [] };
  for (const spec of specs) {
    await declareSpec(inventory, spec, clock);
    result.declared.push(spec.name);
    if (await amendState(inventory, spec.name, ({ state }) => revivedState(state, clock.now()))) {
      result.revived.push(spec.name);
    }
  }
  const declared = new Set(specs.map((s) => s.name));
  for (const record of await inventory.list()) {
    if (declared.has(record.spec.name)) continue;
    if (await amendState(inventory, record.spec.name, ({ state }) => retiredState(state, clock.now()))) {
      result.retired.push(record.spec.name);
      if (retirement) await dropPendingKey(retirement, record.spec.name);
    }
  }
  return result;
}

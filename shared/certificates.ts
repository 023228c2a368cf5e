import type { Inventory } from './inventory/inventory.js';
import type { Clock } from './model/clock.js';
import { type CertificateSpec, parseCertificateSpec } from './model/spec.js';
import { retiredState, revivedState } from './renewal/spec-change.js';

/**
 * Declares (or updates) one certificate: validates the operator's input, naming the field
 * and the fix on error, and only then writes the spec, so bad input never reaches the
 * inventory and never disturbs the certificate already in place.
 */
export async function declareCertificate(inventory: Inventory, input: unknown): Promise<CertificateSpec> {
  const name =
    typeof input === 'object' && input !== null && 'name' in input ? String(input.name) : undefined;
  const spec = parseCertificateSpec(input, name ? `certificates.${name}` : 'certificate');
  await inventory.putSpec(spec);
  return spec;
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
 */
export async function syncCertificates(
  inventory: Inventory,
  specs: readonly CertificateSpec[],
  clock: Clock,
): Promise<SyncResult> {
  const result: SyncResult = { declared: [], revived: [], retired: [] };
  for (const spec of specs) {
    await inventory.putSpec(spec);
    result.declared.push(spec.name);
    if (await inventory.amendState(spec.name, ({ state }) => revivedState(state, clock.now()))) {
      result.revived.push(spec.name);
    }
  }
  const declared = new Set(specs.map((s) => s.name));
  for (const record of await inventory.list()) {
    if (declared.has(record.spec.name)) continue;
    if (await inventory.amendState(record.spec.name, ({ state }) => retiredState(state, clock.now()))) {
      result.retired.push(record.spec.name);
    }
  }
  return result;
}

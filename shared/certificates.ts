import type { Inventory } from './inventory/inventory.js';
import { type CertificateSpec, parseCertificateSpec } from './model/spec.js';

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

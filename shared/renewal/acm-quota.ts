import { DAY, HOUR } from '../model/clock.js';
import type { DeliverySpec } from '../model/delivery.js';
import { ValidationError } from '../model/errors.js';
import type { CertificateSpec } from '../model/spec.js';
import { defaultRenewalTime, emergencyRenewalTime, overrideRenewalTime, type Validity } from './timing.js';

/** Lifetimes by profile (Let's Encrypt, late 2026); an unknown profile is taken as 90 days. */
const PROFILE_LIFETIME_MS: Record<string, number> = {
  shortlived: 160 * HOUR,
  tlsserver: 45 * DAY,
  classic: 90 * DAY,
};

type ImportPlan = Pick<CertificateSpec, 'name' | 'profile' | 'renewBefore' | 'renewBeforePercentage'> & {
  delivery?: DeliverySpec;
};

/**
 * How often a certificate renews without ARI, so how many ACM imports per region it costs
 * a year: the renewal policy's own times (timing.ts) on a certificate of its profile's lifetime.
 */
export function importsPerYear(spec: ImportPlan): number {
  const lifetime = PROFILE_LIFETIME_MS[spec.profile ?? 'classic'] ?? 90 * DAY;
  const v: Validity = { notBefore: new Date(0).toISOString(), notAfter: new Date(lifetime).toISOString() };
  const chosen = overrideRenewalTime(spec, v) ?? defaultRenewalTime(v);
  const emergency = emergencyRenewalTime(v);
  const renewAt = Math.min(chosen.getTime(), emergency.getTime());
  return (365 * DAY) / Math.max(HOUR, renewAt);
}

/**
 * Refuses a declaration whose ACM imports in one region would exceed the yearly quota:
 * 160-hour certificates renew about every 3 days, about 110 imports a year each.
 */
export function acmImportsPerYear(specs: readonly ImportPlan[], quota: number): ValidationError | undefined {
  const byRegion = new Map<string, { total: number; names: string[] }>();
  for (const spec of specs) {
    for (const region of spec.delivery?.acmRegions ?? []) {
      const entry = byRegion.get(region) ?? { total: 0, names: [] };
      entry.total += importsPerYear(spec);
      entry.names.push(spec.name);
      byRegion.set(region, entry);
    }
  }
  for (const [region, { total, names }] of byRegion) {
    if (total > quota) {
      return new ValidationError(
        'config.certificates[].acmRegions',
        `${names.length} certificates would be imported into ACM in ${region} about ${Math.round(total)} times a year (renewals included), over the quota of ${quota} imports per region per year`,
        `import fewer certificates into ${region} (the 160-hour shortlived profile renews every ~3 days, ~110 imports a year each), or ask AWS to raise the quota and set fleet.acmImportsPerYear`,
      );
    }
  }
  return undefined;
}

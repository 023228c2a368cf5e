import type { CertificateSpec } from '../model/spec.js';
import type { CertificateState } from '../model/state.js';

/**
 * Which declared ACM regions do not hold the current serial yet (pure; the clock is an
 * argument). Nothing is pending without a current certificate, for a retired one, or once
 * it has expired: ACM refuses an expired certificate and the renewal is due anyway.
 */
export function pendingAcmRegions(spec: CertificateSpec, state: CertificateState, now: Date): string[] {
  const current = state.current;
  if (!current || state.status === 'retired' || new Date(current.notAfter) <= now) return [];
  return (spec.delivery?.acmRegions ?? []).filter((region) => state.acm?.[region]?.serial !== current.serial);
}

/**
 * When the next pending import is due: at once for a region never tried (a new region, or
 * a new serial the issuance pass could not import), else at its recorded retry time. Part
 * of `dueAt`, so a failed or missing import brings the certificate back to the issuer
 * without a renewal being due.
 */
export function acmImportDueAt(spec: CertificateSpec, state: CertificateState, now: Date): Date | undefined {
  const times = pendingAcmRegions(spec, state, now).map((region) => {
    const retryAt = state.acm?.[region]?.retryAt;
    return retryAt ? new Date(retryAt).getTime() : now.getTime();
  });
  return times.length > 0 ? new Date(Math.min(...times)) : undefined;
}

/** The pending regions whose retry time (if any) has come. */
export function acmImportsDueNow(spec: CertificateSpec, state: CertificateState, now: Date): string[] {
  return pendingAcmRegions(spec, state, now).filter((region) => {
    const retryAt = state.acm?.[region]?.retryAt;
    return !retryAt || new Date(retryAt) <= now;
  });
}

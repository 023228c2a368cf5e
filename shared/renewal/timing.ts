import { DAY } from '../model/clock.js';
import { parseDuration, type CertificateSpec } from '../model/spec.js';
import type { AriState, CurrentCertificate } from '../model/state.js';

/** Lifetimes this short renew at half-life, so a 160-hour certificate keeps days of slack. */
export const SHORT_LIFETIME_MS = 10 * DAY;

export type Validity = Pick<CurrentCertificate, 'notBefore' | 'notAfter'>;

const ms = (iso: string): number => new Date(iso).getTime();
export const lifetimeMs = (v: Validity): number => ms(v.notAfter) - ms(v.notBefore);

/**
 * When a CA gives no renewal information: at 2/3 of the lifetime, or 1/2 for lifetimes of
 * 10 days or less (what certbot and lego do).
 */
export function defaultRenewalTime(v: Validity): Date {
  const lifetime = lifetimeMs(v);
  const fraction = lifetime <= SHORT_LIFETIME_MS ? 1 / 2 : 2 / 3;
  return new Date(ms(v.notBefore) + lifetime * fraction);
}

/** Whatever ARI or an override says, renew once only 1/20 of the lifetime is left (certmagic). */
export function emergencyRenewalTime(v: Validity): Date {
  return new Date(ms(v.notAfter) - lifetimeMs(v) / 20);
}

/** The operator's `renewBefore` / `renewBeforePercentage`, when set. */
export function overrideRenewalTime(
  spec: Pick<CertificateSpec, 'renewBefore' | 'renewBeforePercentage'>,
  v: Validity,
): Date | undefined {
  let before: number | undefined;
  if (spec.renewBefore) before = parseDuration(spec.renewBefore, 'renewBefore');
  else if (spec.renewBeforePercentage !== undefined)
    before = (lifetimeMs(v) * spec.renewBeforePercentage) / 100;
  if (before === undefined) return undefined;
  return new Date(Math.max(ms(v.notBefore), ms(v.notAfter) - before));
}

/**
 * When the current certificate should be renewed. ARI's chosen time leads (RFC 9773 §4.2)
 * when it belongs to this certificate; otherwise the default fractions. An operator's
 * override replaces the default and can only bring an ARI time earlier. The 1/20 rule caps
 * everything, so a CA that keeps pushing its window out cannot let a certificate lapse.
 */
export function renewalTime(
  spec: Pick<CertificateSpec, 'renewBefore' | 'renewBeforePercentage'>,
  current: CurrentCertificate,
  ari: AriState | undefined,
): Date {
  const override = overrideRenewalTime(spec, current);
  const ariTime = ari?.selectedAt && ari.certId === current.certId ? new Date(ari.selectedAt) : undefined;
  const base = ariTime ?? override ?? defaultRenewalTime(current);
  const chosen = ariTime && override && override < ariTime ? override : base;
  const emergency = emergencyRenewalTime(current);
  return chosen < emergency ? chosen : emergency;
}

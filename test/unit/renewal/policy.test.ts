import { describe, expect, it } from 'vitest';
import { DAY, HOUR, MINUTE } from '../../../shared/model/clock.js';
import { parseCertificateSpec } from '../../../shared/model/spec.js';
import type { AriState, CertificateState, CurrentCertificate } from '../../../shared/model/state.js';
import { expiryAlertDue, nextExpiryAlertAt, recordAlert } from '../../../shared/renewal/alerts.js';
import { applyRenewalInfo, ariPollFailed } from '../../../shared/renewal/ari.js';
import { BACKOFF_STEPS_MS, LAST_CHANCE_MS, nextRetryAt } from '../../../shared/renewal/backoff.js';
import { ariPollDue, computeDueAt, dueReason, renewalDue } from '../../../shared/renewal/policy.js';
import { stateAfterSpecChange } from '../../../shared/renewal/spec-change.js';
import {
  defaultRenewalTime,
  emergencyRenewalTime,
  overrideRenewalTime,
  renewalTime,
} from '../../../shared/renewal/timing.js';

const T0 = new Date('2026-11-01T00:00:00Z');
const at = (ms: number) => new Date(T0.getTime() + ms);
const iso = (ms: number) => at(ms).toISOString();
const half = () => 0.5;

const SHORTLIVED = 160 * HOUR;
const CLASSIC = 90 * DAY;

function cert(lifetime: number, certId = 'aki.serial'): CurrentCertificate {
  return { serial: 'AB01', notBefore: iso(0), notAfter: iso(lifetime), manifestKey: 'm', certId };
}
const spec = (extra: Record<string, unknown> = {}) =>
  parseCertificateSpec({ name: 'web', identifiers: ['example.com'], ...extra });
const valid = (current: CurrentCertificate, extra: Partial<CertificateState> = {}): CertificateState => ({
  status: 'valid',
  current,
  attempts: 0,
  updatedAt: iso(0),
  ...extra,
});
const ari = (extra: Partial<AriState> = {}): AriState => ({
  certId: 'aki.serial',
  windowStart: iso(50 * HOUR),
  windowEnd: iso(60 * HOUR),
  selectedAt: iso(55 * HOUR),
  lastPolledAt: iso(0),
  nextPollAt: iso(6 * HOUR),
  ...extra,
});

describe('renewal time without ARI', () => {
  it.each([
    ['160-hour shortlived: half-life', SHORTLIVED, 80 * HOUR],
    ['exactly 10 days: half-life', 10 * DAY, 5 * DAY],
    ['11 days: two thirds', 11 * DAY, (11 * DAY * 2) / 3],
    ['90-day classic: two thirds', CLASSIC, 60 * DAY],
  ])('%s', (_, lifetime, expected) => {
    expect(defaultRenewalTime(cert(lifetime))).toEqual(at(expected));
    expect(renewalTime(spec(), cert(lifetime), undefined)).toEqual(at(expected));
  });

  it('1/20 of the lifetime left is the emergency line', () => {
    expect(emergencyRenewalTime(cert(CLASSIC))).toEqual(at(CLASSIC - CLASSIC / 20));
    expect(emergencyRenewalTime(cert(SHORTLIVED))).toEqual(at(SHORTLIVED - 8 * HOUR));
  });

  it.each([
    ['renewBefore 72h on 160 h', { renewBefore: '72h' }, SHORTLIVED, SHORTLIVED - 72 * HOUR],
    ['renewBefore 45d on 90 d', { renewBefore: '45d' }, CLASSIC, 45 * DAY],
    ['renewBeforePercentage 25 on 90 d', { renewBeforePercentage: 25 }, CLASSIC, CLASSIC * 0.75],
    ['renewBefore longer than the lifetime: at once', { renewBefore: '200d' }, CLASSIC, 0],
  ])('override %s', (_, extra, lifetime, expected) => {
    expect(overrideRenewalTime(spec(extra), cert(lifetime))).toEqual(at(expected));
    expect(renewalTime(spec(extra), cert(lifetime), undefined)).toEqual(at(expected));
  });

  it('an override later than the emergency line is capped by it', () => {
    expect(renewalTime(spec({ renewBefore: '1h' }), cert(SHORTLIVED), undefined)).toEqual(
      emergencyRenewalTime(cert(SHORTLIVED)),
    );
  });
});

describe('renewal time with ARI', () => {
  it('follows the chosen time in the window', () => {
    expect(renewalTime(spec(), cert(SHORTLIVED), ari())).toEqual(at(55 * HOUR));
  });
  it('ignores a window that belongs to another certificate', () => {
    expect(renewalTime(spec(), cert(SHORTLIVED), ari({ certId: 'old.one' }))).toEqual(at(80 * HOUR));
  });
  it('ignores an ARI state that has no window yet (failed polls only)', () => {
    const failedOnly: AriState = { certId: 'aki.serial', lastPolledAt: iso(0), nextPollAt: iso(6 * HOUR) };
    expect(renewalTime(spec(), cert(SHORTLIVED), failedOnly)).toEqual(at(80 * HOUR));
  });
  it('an override can only bring it earlier', () => {
    expect(renewalTime(spec({ renewBefore: '150h' }), cert(SHORTLIVED), ari())).toEqual(at(10 * HOUR));
    expect(renewalTime(spec({ renewBefore: '10h' }), cert(SHORTLIVED), ari())).toEqual(at(55 * HOUR));
  });
  it('whatever the window says, 1/20 of the lifetime left renews', () => {
    const late = ari({ selectedAt: iso(SHORTLIVED - HOUR) });
    expect(renewalTime(spec(), cert(SHORTLIVED), late)).toEqual(at(SHORTLIVED - 8 * HOUR));
  });
});

describe('applying RenewalInfo (RFC 9773 §4.2, §4.3)', () => {
  const window = (start: number, end: number, retryAfter?: number) => ({
    suggestedWindow: { start: at(start), end: at(end) },
    explanationURL: 'https://ca.example/why',
    retryAfter: retryAfter === undefined ? undefined : at(retryAfter),
  });

  it('picks a time uniformly inside a future window and keeps the explanation', () => {
    const a = applyRenewalInfo(undefined, 'id', window(50 * HOUR, 60 * HOUR), T0, () => 0.25);
    expect(a.selectedAt).toBe(iso(52.5 * HOUR));
    expect(a.explanationURL).toBe('https://ca.example/why');
    for (const r of [0, 0.999]) {
      const pick = new Date(
        applyRenewalInfo(undefined, 'id', window(50 * HOUR, 60 * HOUR), T0, () => r).selectedAt!,
      );
      expect(pick >= at(50 * HOUR) && pick < at(60 * HOUR)).toBe(true);
    }
  });

  it('keeps the chosen time while the window stays the same', () => {
    const first = applyRenewalInfo(undefined, 'id', window(50 * HOUR, 60 * HOUR), T0, () => 0.1);
    const again = applyRenewalInfo(first, 'id', window(50 * HOUR, 60 * HOUR), at(HOUR), () => 0.9);
    expect(again.selectedAt).toBe(first.selectedAt);
    const moved = applyRenewalInfo(first, 'id', window(40 * HOUR, 45 * HOUR), at(HOUR), () => 0.9);
    expect(moved.selectedAt).toBe(iso(44.5 * HOUR));
  });

  it('a window whose start has passed means renew now', () => {
    expect(applyRenewalInfo(undefined, 'id', window(-HOUR, HOUR), T0, () => 0.9).selectedAt).toBe(iso(0));
    expect(applyRenewalInfo(undefined, 'id', window(-2 * HOUR, -HOUR), T0, () => 0.9).selectedAt).toBe(
      iso(0),
    );
  });

  it.each([
    ['no Retry-After: 6 h', undefined, 6 * HOUR],
    ['Retry-After 10 s: clamped to 1 min', 10_000, MINUTE],
    ['Retry-After 3 h: as sent', 3 * HOUR, 3 * HOUR],
    ['Retry-After 48 h: clamped to 24 h', 48 * HOUR, 24 * HOUR],
    ['Retry-After in the past: 1 min', -HOUR, MINUTE],
  ])('next poll, %s', (_, retryAfter, wait) => {
    expect(
      applyRenewalInfo(undefined, 'id', window(50 * HOUR, 60 * HOUR, retryAfter), T0, half).nextPollAt,
    ).toBe(iso(wait));
  });

  it('a failed poll keeps the last window and asks again in about 6 h', () => {
    const good = applyRenewalInfo(undefined, 'id', window(50 * HOUR, 60 * HOUR), T0, half);
    const failed = ariPollFailed(good, 'id', 'CA down', at(HOUR), () => 0);
    expect(failed).toMatchObject({
      selectedAt: good.selectedAt,
      lastError: 'CA down',
      lastPolledAt: iso(HOUR),
    });
    expect(failed.nextPollAt).toBe(iso(HOUR + 6 * HOUR * 0.9));
    expect(ariPollFailed(good, 'id', 'x', T0, () => 1).nextPollAt).toBe(iso(6 * HOUR * 1.1));
    expect(ariPollFailed(good, 'other', 'x', T0, half)).toEqual({
      certId: 'other',
      lastPolledAt: iso(0),
      nextPollAt: iso(6 * HOUR),
      lastError: 'x',
    });
  });
});

describe('backoff after failures', () => {
  it('follows 1m 2m 5m 10m 30m 1h 2h 4h then 6h, without jitter at the midpoint', () => {
    const delays = Array.from(
      { length: 12 },
      (_, i) => nextRetryAt(i + 1, T0, undefined, half).getTime() - T0.getTime(),
    );
    expect(delays).toEqual([
      MINUTE,
      2 * MINUTE,
      5 * MINUTE,
      10 * MINUTE,
      30 * MINUTE,
      HOUR,
      2 * HOUR,
      4 * HOUR,
      6 * HOUR,
      6 * HOUR,
      6 * HOUR,
      6 * HOUR,
    ]);
    expect(BACKOFF_STEPS_MS).toHaveLength(9);
  });

  it('jitters by ±20%', () => {
    expect(nextRetryAt(6, T0, undefined, () => 0)).toEqual(at(0.8 * HOUR));
    expect(nextRetryAt(6, T0, undefined, () => 1)).toEqual(at(1.2 * HOUR));
  });

  it('is never later than the last moment a renewal can finish before expiry', () => {
    const notAfter = at(3 * HOUR);
    expect(nextRetryAt(9, T0, notAfter, half)).toEqual(at(3 * HOUR - LAST_CHANCE_MS));
    // Inside the last chance window: still a minute at least, never a busy loop.
    expect(nextRetryAt(9, at(3 * HOUR - LAST_CHANCE_MS + 1000), notAfter, half).getTime()).toBeGreaterThan(
      at(3 * HOUR - LAST_CHANCE_MS).getTime(),
    );
    // Already expired: the normal backoff resumes.
    expect(nextRetryAt(9, at(4 * HOUR), notAfter, half)).toEqual(at(10 * HOUR));
  });
});

describe('what is due, and when', () => {
  it.each<[string, CertificateState, Date, string | undefined]>([
    ['never issued', { status: 'pending', attempts: 0, updatedAt: iso(0) }, T0, 'missing'],
    ['never issued, failed before', { status: 'pending', attempts: 2, updatedAt: iso(0) }, T0, 'retry'],
    [
      'never issued, retry scheduled later',
      { status: 'pending', attempts: 2, nextAttemptAt: iso(HOUR), updatedAt: iso(0) },
      T0,
      undefined,
    ],
    ['before the renewal time', valid(cert(SHORTLIVED)), at(79 * HOUR), undefined],
    ['at the renewal time', valid(cert(SHORTLIVED)), at(80 * HOUR), 'renewal-time'],
    ['spec changed', valid(cert(SHORTLIVED), { reissue: true }), T0, 'reissue'],
    ['retired', { ...valid(cert(SHORTLIVED)), status: 'retired' }, at(200 * HOUR), undefined],
    ['ARI window chosen earlier', valid(cert(SHORTLIVED), { ari: ari() }), at(56 * HOUR), 'renewal-time'],
    [
      'due, but a Retry-After holds it',
      valid(cert(SHORTLIVED), { attempts: 1, nextAttemptAt: iso(81 * HOUR) }),
      at(80 * HOUR),
      undefined,
    ],
    [
      'due after failures',
      valid(cert(SHORTLIVED), { attempts: 3, nextAttemptAt: iso(81 * HOUR) }),
      at(81 * HOUR),
      'retry',
    ],
  ])('%s', (_, state, now, expected) => {
    expect(renewalDue(spec(), state, now)).toBe(expected);
  });

  it('polls ARI for a certificate with a certID when the poll time is up', () => {
    expect(ariPollDue(valid(cert(SHORTLIVED)), T0)).toBe(true);
    expect(ariPollDue(valid(cert(SHORTLIVED), { ari: ari() }), at(HOUR))).toBe(false);
    expect(ariPollDue(valid(cert(SHORTLIVED), { ari: ari() }), at(6 * HOUR))).toBe(true);
    expect(ariPollDue(valid(cert(SHORTLIVED), { ari: ari({ certId: 'previous' }) }), at(HOUR))).toBe(true);
    expect(ariPollDue(valid({ ...cert(SHORTLIVED), certId: undefined }), T0)).toBe(false);
    expect(dueReason(spec(), valid(cert(SHORTLIVED), { ari: ari() }), at(6 * HOUR))).toBe('ari-poll');
  });

  it('dueAt is the earliest of renewal, retry, ARI poll and expiry warning', () => {
    const s = spec();
    expect(computeDueAt(s, valid(cert(SHORTLIVED), { ari: ari() }), T0)).toEqual(at(6 * HOUR));
    expect(
      computeDueAt(s, valid(cert(SHORTLIVED), { ari: ari({ nextPollAt: iso(70 * HOUR) }) }), T0),
    ).toEqual(at(55 * HOUR));
    // A retry scheduled after the renewal time holds the renewal back until then.
    const held = valid(cert(SHORTLIVED), {
      attempts: 1,
      nextAttemptAt: iso(90 * HOUR),
      ari: ari({ nextPollAt: iso(100 * HOUR), selectedAt: iso(80 * HOUR) }),
    });
    expect(computeDueAt(s, held, T0)).toEqual(at(90 * HOUR));
    // ...unless an expiry warning comes first: failures and 1/3 of the lifetime left.
    const failing = {
      ...held,
      attempts: 3,
      nextAttemptAt: iso(150 * HOUR),
      ari: ari({ nextPollAt: iso(140 * HOUR) }),
    };
    expect(computeDueAt(s, failing, T0)).toEqual(at(SHORTLIVED - SHORTLIVED / 3));
    expect(computeDueAt(s, { status: 'pending', attempts: 0, updatedAt: iso(0) }, at(5))).toEqual(at(5));
    expect(computeDueAt(s, { ...valid(cert(SHORTLIVED)), status: 'retired' }, T0)).toBeUndefined();
  });
});

describe('expiry warnings', () => {
  const current = cert(SHORTLIVED);
  it('warn at 1/3 of the lifetime left only while renewal keeps failing (3 in a row)', () => {
    const third = at(SHORTLIVED - SHORTLIVED / 3);
    expect(expiryAlertDue(valid(current), third)).toBeUndefined();
    expect(expiryAlertDue(valid(current, { attempts: 2 }), third)).toBeUndefined();
    expect(expiryAlertDue(valid(current, { attempts: 3 }), third)).toBe('third');
    expect(expiryAlertDue(valid(current, { attempts: 3 }), at(SHORTLIVED / 2))).toBeUndefined();
  });
  it('warn with under 24 h left, once per serial', () => {
    const late = at(SHORTLIVED - 20 * HOUR);
    const state = valid(current);
    expect(expiryAlertDue(state, late)).toBe('day');
    const sent = recordAlert(state, 'day');
    expect(expiryAlertDue(sent, late)).toBeUndefined();
    expect(nextExpiryAlertAt(sent)).toBeUndefined();
    const renewed = { ...sent, current: { ...current, serial: 'CD02' } };
    expect(expiryAlertDue(renewed, late)).toBe('day');
  });
  it('on 90-day certificates the day warning is due 24 h before expiry', () => {
    expect(nextExpiryAlertAt(valid(cert(CLASSIC)))).toEqual(at(CLASSIC - DAY));
    expect(nextExpiryAlertAt(valid(cert(CLASSIC), { attempts: 1 }))).toEqual(at(CLASSIC - DAY));
    expect(nextExpiryAlertAt(valid(cert(CLASSIC), { attempts: 3 }))).toEqual(at(CLASSIC - CLASSIC / 3));
  });
});

describe('a spec change', () => {
  const failing: CertificateState = valid(cert(SHORTLIVED), {
    status: 'failing',
    attempts: 12,
    nextAttemptAt: iso(6 * HOUR),
  });
  it('resets the failure count and makes the certificate due now', () => {
    const next = stateAfterSpecChange(failing, spec(), spec({ keyType: 'rsa2048' }), at(HOUR));
    expect(next).toMatchObject({ status: 'valid', attempts: 0, reissue: true, dueAt: iso(HOUR) });
    expect(next.nextAttemptAt).toBeUndefined();
  });
  it('does not force a reissue when only how it is obtained changed', () => {
    const next = stateAfterSpecChange(failing, spec(), spec({ hostedZoneId: 'Z1' }), at(HOUR));
    expect(next.reissue).toBeFalsy();
    expect(next.attempts).toBe(0);
  });
  it('changes nothing when the spec is the same', () => {
    expect(stateAfterSpecChange(failing, spec(), spec(), at(HOUR))).toBe(failing);
  });
});

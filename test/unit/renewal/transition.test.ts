/**
 * The renewal's transition table (shared/renewal/transition.ts), without any adapter: each
 * row is a state, what happened, and the next state and events the machine must produce.
 */
import { describe, expect, it } from 'vitest';
import { DAY, HOUR, MINUTE } from '../../../shared/model/clock.js';
import {
  AcmeProblemError,
  type CertkeeperError,
  RetryLaterError,
  UnreachableError,
} from '../../../shared/model/errors.js';
import { parseCertificateSpec } from '../../../shared/model/spec.js';
import type { CertificateState } from '../../../shared/model/state.js';
import { BACKOFF_STEPS_MS, FAILING_AFTER } from '../../../shared/renewal/backoff.js';
import {
  afterAriPoll,
  afterFailure,
  afterIssued,
  afterPublishFailed,
  type Context,
  OUTBOX_RETRY_MS,
  settle,
  withOrder,
  withOutbox,
} from '../../../shared/renewal/transition.js';

const NOW = new Date('2026-11-01T12:00:00Z');
const iso = (offsetMs: number) => new Date(NOW.getTime() + offsetMs).toISOString();
const spec = parseCertificateSpec({ name: 'web', identifiers: ['web.example.com'], profile: 'classic' });
// random() = 0.5 puts the ±20% backoff jitter at exactly the step.
const ctx: Context = { spec, now: NOW, bucket: 'certs', random: () => 0.5 };

const current = (serial: string, notAfterOffset = 60 * DAY) => ({
  serial,
  notBefore: iso(notAfterOffset - 90 * DAY),
  notAfter: iso(notAfterOffset),
  manifestKey: 'certificates/web/current.json',
  certId: `cid-${serial}`,
  profile: 'classic',
});
const valid: CertificateState = {
  status: 'valid',
  current: current('01'),
  attempts: 0,
  updatedAt: iso(-DAY),
};
const pending: CertificateState = { status: 'pending', attempts: 0, updatedAt: iso(-DAY) };
const stored = (serial: string) => {
  const { profile: _profile, ...rest } = current(serial, 90 * DAY);
  return rest;
};
const problem = (type: string) =>
  new AcmeProblemError(`urn:ietf:params:acme:error:${type}`, `${type} detail`, 400);

describe('afterIssued', () => {
  it.each([
    ['the first certificate of a name', pending, 'certificate.issued'],
    [
      'a renewal',
      { ...valid, attempts: 4, lastError: { code: 'x', detail: 'y', at: iso(-HOUR) } },
      'certificate.renewed',
    ],
  ] as const)('%s: current, failures forgotten, one event', (_, before, type) => {
    const { state, events } = afterIssued(ctx, { ...before, orderUrl: 'https://ca/order/1' }, stored('02'));
    expect(state).toEqual({
      status: 'valid',
      current: { ...stored('02'), profile: 'classic' },
      attempts: 0,
      lastSuccessAt: NOW.toISOString(),
      updatedAt: NOW.toISOString(),
    });
    expect(events).toEqual([
      expect.objectContaining({
        type,
        certificate: 'web',
        identifiers: ['web.example.com'],
        status: 'valid',
        serial: '02',
        bucket: 'certs',
        manifestKey: 'certificates/web/current.json',
        at: NOW.toISOString(),
      }),
    ]);
  });

  it('keeps where ACM stands (its ARNs outlive the serial)', () => {
    const acm = {
      'eu-west-1': { arn: 'arn:aws:acm:eu-west-1:1:certificate/x', serial: '01', attemptedAt: iso(-DAY) },
    };
    expect(afterIssued(ctx, { ...valid, acm }, stored('02')).state.acm).toEqual(acm);
  });
});

describe('afterFailure', () => {
  const failing = (attempts: number, error: CertkeeperError = problem('connection')): CertificateState => ({
    ...valid,
    attempts,
    lastError: {
      code: error.code,
      type: (error as AcmeProblemError).type,
      detail: error.message,
      at: iso(-HOUR),
    },
  });
  const rows: [string, CertificateState, CertkeeperError, Partial<CertificateState>, number][] = [
    [
      'the first failure: backoff step 1, announced',
      valid,
      problem('connection'),
      { status: 'valid', attempts: 1, nextAttemptAt: iso(BACKOFF_STEPS_MS[0]) },
      1,
    ],
    [
      'the same failure again: step 2, not announced',
      failing(1),
      problem('connection'),
      { attempts: 2, nextAttemptAt: iso(BACKOFF_STEPS_MS[1]) },
      0,
    ],
    [
      'a different failure: announced',
      failing(2),
      problem('unauthorized'),
      { attempts: 3, nextAttemptAt: iso(BACKOFF_STEPS_MS[2]) },
      1,
    ],
    [
      `the ${FAILING_AFTER}th failure in a row: failing, announced`,
      failing(FAILING_AFTER - 1),
      problem('connection'),
      { status: 'failing', attempts: FAILING_AFTER },
      1,
    ],
    [
      "the CA's Retry-After: its delay, not the backoff (RFC 8555 §6.6)",
      { ...valid, orderUrl: 'https://ca/order/1' },
      new RetryLaterError(
        'rate limited',
        new Date(0),
        'urn:ietf:params:acme:error:rateLimited',
        undefined,
        3 * HOUR,
      ),
      { attempts: 1, nextAttemptAt: iso(3 * HOUR), orderUrl: 'https://ca/order/1' },
      1,
    ],
  ];
  it.each(rows)('%s', (_, before, error, expected, announced) => {
    const { state, events } = afterFailure(ctx, before, error, 'ca-a');
    expect(state).toMatchObject(expected);
    expect(state.current).toEqual(before.current);
    expect(state.lastError).toEqual({
      code: error.code,
      type: error instanceof AcmeProblemError ? error.type : (error as RetryLaterError).problemType,
      detail: error.message,
      ca: 'ca-a',
      at: NOW.toISOString(),
    });
    expect(events).toHaveLength(announced);
    if (announced) {
      expect(events[0]).toMatchObject({
        type: 'certificate.renewal_failed',
        attempt: state.attempts,
        nextAttemptAt: state.nextAttemptAt,
        error: { type: state.lastError!.type, detail: error.message },
        ca: 'ca-a',
      });
    }
  });

  it('drops the order of a refused attempt: it cannot be resumed', () => {
    const { state } = afterFailure(
      ctx,
      { ...valid, orderUrl: 'https://ca/order/1' },
      problem('unauthorized'),
      'ca-a',
    );
    expect(state.orderUrl).toBeUndefined();
  });

  it('records an error that is no ACME problem by its code alone', () => {
    const { state } = afterFailure(
      ctx,
      valid,
      new UnreachableError('cannot reach the CA', 'check egress'),
      'ca-a',
    );
    expect(state.lastError).toMatchObject({ code: 'unreachable', type: undefined });
  });
});

describe('settle', () => {
  it('computes when anything is next due and stamps the time', () => {
    // Without a certID there is no ARI to poll: due at 2/3 of the 90-day lifetime.
    const { state, events } = settle(ctx, { ...valid, current: { ...current('01'), certId: undefined } });
    expect(events).toEqual([]);
    expect(state.updatedAt).toBe(NOW.toISOString());
    expect(state.dueAt).toBe(iso(30 * DAY));
    // With one, an ARI poll is due at once (RFC 9773 §4.3).
    expect(settle(ctx, valid).state.dueAt).toBe(NOW.toISOString());
  });

  it('warns once when under a day is left, naming the last failure', () => {
    const nearly: CertificateState = {
      ...valid,
      current: current('01', 12 * HOUR),
      attempts: 5,
      lastError: {
        code: 'acme-problem',
        type: 'urn:ietf:params:acme:error:dns',
        detail: 'NXDOMAIN',
        at: iso(-HOUR),
      },
    };
    const first = settle(ctx, nearly);
    expect(first.events).toEqual([
      expect.objectContaining({
        type: 'certificate.expiring',
        warning: 'day',
        attempt: 5,
        error: { type: 'urn:ietf:params:acme:error:dns', detail: 'NXDOMAIN' },
      }),
    ]);
    expect(first.state.alertsSent).toEqual({ serial: '01', kinds: ['day'] });
    expect(settle(ctx, first.state).events).toEqual([]);
  });

  it('marks a valid certificate past its notAfter expired', () => {
    const gone = {
      ...valid,
      current: current('01', -MINUTE),
      alertsSent: { serial: '01', kinds: ['day' as const] },
    };
    expect(settle(ctx, gone).state.status).toBe('expired');
  });
});

describe('ARI and the order in flight', () => {
  it('records a poll answer and a failed poll (RFC 9773 §4.2)', () => {
    const info = { suggestedWindow: { start: new Date(iso(DAY)), end: new Date(iso(2 * DAY)) } };
    const answered = afterAriPoll(ctx, valid, { certId: 'cid-01', info });
    expect(answered.ari).toMatchObject({
      certId: 'cid-01',
      windowStart: iso(DAY),
      windowEnd: iso(2 * DAY),
      selectedAt: iso(1.5 * DAY),
      lastPolledAt: NOW.toISOString(),
    });
    const failed = afterAriPoll(ctx, answered, { certId: 'cid-01', error: 'HTTP 503' });
    expect(failed.ari).toMatchObject({ windowStart: iso(DAY), lastError: 'HTTP 503' });
  });

  it('records a new order once (RFC 8555 §7.4)', () => {
    const ordered = withOrder(ctx, valid, 'https://ca/order/2', 'ca-a');
    expect(ordered).toEqual({
      ...valid,
      orderUrl: 'https://ca/order/2',
      // The order lives at that CA: resumed only there.
      caAttempt: { name: 'ca-a', failures: 0 },
      updatedAt: NOW.toISOString(),
    });
    expect(withOrder(ctx, ordered!, 'https://ca/order/2', 'ca-a')).toBeUndefined();
  });
});

describe('the outbox', () => {
  const renewed = afterIssued(ctx, valid, stored('02'));
  const settled = { ...settle(ctx, { ...renewed.state, ari: undefined }).state, dueAt: iso(30 * DAY) };

  it('records the events with the state, changing nothing else', () => {
    expect(withOutbox(settled, renewed.events)).toEqual({ ...settled, outbox: renewed.events });
    expect(withOutbox(withOutbox(settled, renewed.events), [])).toEqual(settled);
    expect(withOutbox(settled, [])).not.toHaveProperty('outbox');
  });

  it('keeps what the topic refused, due again soon to send it', () => {
    const pending = afterPublishFailed(ctx, settled, renewed.events);
    expect(pending).toEqual({ ...settled, outbox: renewed.events, dueAt: iso(OUTBOX_RETRY_MS) });
    // An earlier due time stands.
    const soon = { ...settled, dueAt: iso(-MINUTE) };
    expect(afterPublishFailed(ctx, soon, renewed.events).dueAt).toBe(iso(-MINUTE));
  });
});

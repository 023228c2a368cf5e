import { describe, expect, it } from 'vitest';
import { DAY, HOUR, MINUTE } from '../../../shared/model/clock.js';
import { CertkeeperError, ValidationError } from '../../../shared/model/errors.js';
import type { CertificateEvent } from '../../../shared/model/event.js';
import { formatNotification, humanDuration, type Severity } from '../../../shared/notify/format.js';
import { parseNotification } from '../../../shared/events/notification.js';
import { leakedKey } from '../../support/test-keys.js';

const NOW = new Date('2026-11-22T11:00:00Z');
const inHours = (h: number) => new Date(NOW.getTime() + h * HOUR).toISOString();

const web1 = (extra: Partial<CertificateEvent>): CertificateEvent => ({
  type: 'certificate.renewal_failed',
  certificate: 'web-1',
  identifiers: ['203.0.113.10'],
  serial: '04A1B2',
  notAfter: inHours(19.5),
  bucket: 'certs',
  manifestKey: 'certificates/web-1/current.json',
  status: 'valid',
  at: NOW.toISOString(),
  ...extra,
});
const connection = {
  type: 'urn:ietf:params:acme:error:connection',
  detail:
    'ACME connection: 203.0.113.10: Fetching http://203.0.113.10/.well-known/acme-challenge/x: Connection refused',
};
const alarm = (extra: Record<string, unknown>) => ({
  AlarmName: 'certkeeper-scheduler-heartbeat',
  AlarmDescription: 'The scheduler has not run for 30 minutes: check its logs.',
  AWSAccountId: '123456789012',
  NewStateReason:
    'Threshold Crossed: 1 datapoint [0.0 (22/11/26 10:55:00)] was less than the threshold (1.0).',
  StateChangeTime: '2026-11-22T10:58:12.345+0000',
  Region: 'US East (N. Virginia)',
  AlarmArn: 'arn:aws:cloudwatch:us-east-1:123456789012:alarm:certkeeper-scheduler-heartbeat',
  Trigger: { MetricName: 'SchedulerHeartbeat', Threshold: 1 },
  ...extra,
});

const format = (body: unknown) => formatNotification(parseNotification(JSON.stringify(body)), NOW);

describe('formatNotification', () => {
  it.each<[string, unknown, Severity, string, string[]]>([
    [
      'failing: repeated failures, the problem, the next attempt, what to run',
      web1({ status: 'failing', attempt: 12, nextAttemptAt: inHours(2), error: connection }),
      'critical',
      'certkeeper: web-1 renewal failing',
      [
        'web-1 (203.0.113.10) expires in 19 h; 12 renewal attempts failed: urn:ietf:params:acme:error:connection — 203.0.113.10: Fetching http://203.0.113.10/.well-known/acme-challenge/x: Connection refused.',
        'Status: failing. Attempts go on; the current certificate stays in place.',
        'Next attempt: 2026-11-22 13:00 UTC (in 2 h).',
        'Run `certkeeper status web-1` for the full error and history.',
      ],
    ],
    [
      'first failure with days left: a warning, no status line',
      web1({
        notAfter: inHours(109),
        attempt: 1,
        nextAttemptAt: inHours(1 / 60),
        error: {
          type: 'urn:ietf:params:acme:error:rateLimited',
          detail: 'ACME rateLimited: too many new orders.',
        },
      }),
      'warning',
      'certkeeper: web-1 renewal failed',
      [
        'web-1 (203.0.113.10) expires in 4 d 13 h; 1 renewal attempt failed: urn:ietf:params:acme:error:rateLimited — too many new orders.',
        'Next attempt: 2026-11-22 11:01 UTC (in 1 min).',
        'Run `certkeeper status web-1` for the full error and history.',
      ],
    ],
    [
      'first failure of a certificate never issued: issuance, long identifier lists cut',
      {
        ...web1({ attempt: 1, error: { detail: 'Route53 ChangeResourceRecordSets was denied' } }),
        certificate: 'site',
        identifiers: ['example.com', '*.example.com', 'a.example.com', 'b.example.com', 'c.example.com'],
        status: 'pending',
        serial: undefined,
        notAfter: undefined,
      },
      'warning',
      'certkeeper: site issuance failed',
      [
        'site (example.com, *.example.com, a.example.com +2 more) has no certificate yet; 1 issuance attempt failed: Route53 ChangeResourceRecordSets was denied.',
        'Run `certkeeper status site` for the full error and history.',
      ],
    ],
    [
      'expiring, under a day, with the failures so far',
      web1({ type: 'certificate.expiring', warning: 'day', attempt: 4, error: connection }),
      'critical',
      'certkeeper: web-1 expires in 19 h',
      [
        'web-1 (203.0.113.10) expires in 19 h; 4 renewal attempts failed: urn:ietf:params:acme:error:connection — 203.0.113.10: Fetching http://203.0.113.10/.well-known/acme-challenge/x: Connection refused.',
        'Run `certkeeper status web-1` for the full error and history.',
      ],
    ],
    [
      'expiring, a third of the lifetime left',
      web1({ type: 'certificate.expiring', warning: 'third', notAfter: inHours(53.5) }),
      'warning',
      'certkeeper: web-1 expires in 2 d 5 h',
      [
        'web-1 (203.0.113.10) expires in 2 d 5 h; renewal has not succeeded.',
        'A third of its lifetime is left.',
        'Run `certkeeper status web-1` for the full error and history.',
      ],
    ],
    [
      'failure after expiry: says how long ago',
      web1({ notAfter: inHours(-3), status: 'expired', attempt: 30, nextAttemptAt: inHours(-0.5) }),
      'critical',
      'certkeeper: web-1 renewal failed',
      [
        'web-1 (203.0.113.10) expired 3 h ago; 30 renewal attempts failed.',
        'Next attempt: 2026-11-22 10:30 UTC (due now).',
        'Run `certkeeper status web-1` for the full error and history.',
      ],
    ],
    [
      'renewed, when asked for',
      web1({ type: 'certificate.renewed', notAfter: inHours(164) }),
      'info',
      'certkeeper: web-1 renewed',
      ['web-1 (203.0.113.10) renewed: serial 04A1B2, valid until 2026-11-29 07:00 UTC (6 d 20 h).'],
    ],
    [
      'revoked',
      web1({ type: 'certificate.revoked' }),
      'critical',
      'certkeeper: web-1 certificate revoked',
      [
        'web-1 (203.0.113.10): certificate 04A1B2 was revoked.',
        'Servers still serving it will be refused. Run `certkeeper renew web-1` to replace it, and `certkeeper status web-1` to check.',
      ],
    ],
    [
      'alarm ALARM: reason, the description the stack wrote, a console link',
      alarm({ NewStateValue: 'ALARM', OldStateValue: 'OK' }),
      'critical',
      'certkeeper: alarm certkeeper-scheduler-heartbeat is ALARM',
      [
        'certkeeper-scheduler-heartbeat is ALARM since 2026-11-22 10:58 UTC (was OK).',
        'Reason: Threshold Crossed: 1 datapoint [0.0 (22/11/26 10:55:00)] was less than the threshold (1.0).',
        'The scheduler has not run for 30 minutes: check its logs.',
        'Alarm: https://us-east-1.console.aws.amazon.com/cloudwatch/home?region=us-east-1#alarmsV2:alarm/certkeeper-scheduler-heartbeat',
      ],
    ],
    [
      'alarm OK: recovery, nothing to do',
      alarm({
        NewStateValue: 'OK',
        OldStateValue: 'ALARM',
        NewStateReason: 'Threshold Crossed: 1 datapoint [1.0]',
      }),
      'info',
      'certkeeper: alarm certkeeper-scheduler-heartbeat is OK',
      [
        'certkeeper-scheduler-heartbeat is OK since 2026-11-22 10:58 UTC (was ALARM).',
        'Reason: Threshold Crossed: 1 datapoint [1.0]',
      ],
    ],
    [
      'alarm INSUFFICIENT_DATA, no description (CloudWatch sends null)',
      alarm({
        NewStateValue: 'INSUFFICIENT_DATA',
        AlarmDescription: null,
        AlarmArn: null,
        NewStateReason: null,
      }),
      'warning',
      'certkeeper: alarm certkeeper-scheduler-heartbeat is INSUFFICIENT_DATA',
      ['certkeeper-scheduler-heartbeat is INSUFFICIENT_DATA since 2026-11-22 10:58 UTC.'],
    ],
  ])('%s', (_, body, severity, subject, lines) => {
    const message = format(body);
    expect(message).toMatchObject({ severity, subject });
    expect(message.text.split('\n')).toEqual(lines);
  });

  it('carries the parsed event along for structured targets', () => {
    const event = web1({ attempt: 2 });
    expect(format(event).event).toEqual(event);
  });

  it('keeps subjects within what SNS email takes: printable ASCII, one line, 100 characters', () => {
    const long = alarm({ AlarmName: `certkeeper ünïcode\n${'x'.repeat(200)}`, NewStateValue: 'ALARM' });
    const { subject } = format(long);
    expect(subject).toMatch(/^[\x20-\x7E]+$/);
    expect(subject).toHaveLength(100);
    expect(subject.endsWith('...')).toBe(true);
  });

  it('cuts a long problem detail short', () => {
    const detail = 'y'.repeat(1000);
    const [line] = format(web1({ attempt: 1, error: { detail } })).text.split('\n');
    expect(line!.length).toBeLessThan(400);
    expect(line).toContain('…');
  });

  it('refuses anything carrying key material, naming only the subject', () => {
    const key = leakedKey();
    const leaky = web1({ attempt: 1, error: { detail: key.pem } });
    const err = thrown(() => format(leaky));
    expect(err).toBeInstanceOf(CertkeeperError);
    expect((err as CertkeeperError).retryable).toBe(false);
    expect((err as Error).message).toContain('web-1 renewal failed');
    expect((err as Error).message).not.toContain(key.secret);
  });
});

describe('humanDuration: floored, never more than is left', () => {
  it.each([
    [59 * 1000, '0 min'],
    [45 * MINUTE, '45 min'],
    [19 * HOUR + 59 * MINUTE, '19 h'],
    [47 * HOUR, '47 h'],
    [2 * DAY + 5 * HOUR, '2 d 5 h'],
    [3 * DAY, '3 d'],
    [60 * DAY + 23 * HOUR, '60 d'],
  ])('%i ms is %s', (ms, text) => {
    expect(humanDuration(ms)).toBe(text);
  });
});

describe('parseNotification', () => {
  it.each([
    ['not JSON', 'hello', 'message'],
    ['an unknown event type', JSON.stringify({ ...web1({}), type: 'certificate.lost' }), 'message.type'],
    [
      'an event without identifiers',
      JSON.stringify({ ...web1({}), identifiers: undefined }),
      'message.identifiers',
    ],
    [
      'an alarm without a state',
      JSON.stringify(alarm({ NewStateValue: undefined })),
      'message.NewStateValue',
    ],
  ])('refuses %s, naming the field', (_, body, field) => {
    const err = thrown(() => parseNotification(body));
    expect(err).toBeInstanceOf(ValidationError);
    expect((err as ValidationError).field).toBe(field);
  });
});

function thrown(fn: () => unknown): unknown {
  try {
    fn();
  } catch (err) {
    return err;
  }
  throw new Error('expected a throw');
}

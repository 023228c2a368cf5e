import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../../shared/model/clock.js';
import { ValidationError } from '../../../shared/model/errors.js';
import type { CertificateEvent, EventType } from '../../../shared/model/event.js';
import type { Log } from '../../../shared/model/log.js';
import { DEFAULT_NOTIFY_TYPES, parseNotifierEnv } from '../../../shared/notify/config.js';
import type { NotificationMessage } from '../../../shared/notify/format.js';
import { notify, type NotifyDeps } from '../../../shared/notify/notify.js';
import { NotificationError, type NotificationTarget } from '../../../shared/notify/target.js';

const event = (type: EventType): CertificateEvent => ({
  type,
  certificate: 'web-1',
  identifiers: ['203.0.113.10'],
  notAfter: '2026-11-23T06:00:00.000Z',
  attempt: 1,
  at: '2026-11-22T11:00:00.000Z',
});

/** A target that records what it was given and fails when told to. */
function target(name: string, fails = false): NotificationTarget & { sent: NotificationMessage[] } {
  const sent: NotificationMessage[] = [];
  return {
    name,
    sent,
    send: async (message) => {
      if (fails) throw new NotificationError(name, 'answered HTTP 500', { status: 500, retryable: true });
      sent.push(message);
    },
  };
}

function deps(targets: NotificationTarget[]): NotifyDeps & { warnings: Record<string, unknown>[] } {
  const warnings: Record<string, unknown>[] = [];
  const log: Log = { debug() {}, info() {}, error() {}, warn: (_, extra) => warnings.push(extra ?? {}) };
  return {
    targets,
    types: DEFAULT_NOTIFY_TYPES,
    clock: new ManualClock('2026-11-22T11:00:00Z'),
    log,
    warnings,
  };
}

describe('notify', () => {
  it('sends the same message to every target', async () => {
    const [a, b] = [target('telegram'), target('email')];
    const outcome = await notify(deps([a, b]), JSON.stringify(event('certificate.renewal_failed')));
    expect(outcome).toEqual({
      status: 'delivered',
      subject: 'certkeeper: web-1 renewal failed',
      delivered: ['telegram', 'email'],
      failed: [],
    });
    expect(a.sent).toHaveLength(1);
    expect(b.sent).toEqual(a.sent);
  });

  it('a failing target does not stop the others; the failure is logged with its target', async () => {
    const [ok, broken] = [target('slack'), target('webhook', true)];
    const d = deps([broken, ok]);
    const outcome = await notify(d, JSON.stringify(event('certificate.expiring')));
    expect(outcome).toMatchObject({ status: 'delivered', delivered: ['slack'], failed: ['webhook'] });
    expect(ok.sent).toHaveLength(1);
    expect(d.warnings).toEqual([
      {
        target: 'webhook',
        subject: 'certkeeper: web-1 expires in 19 h',
        error: 'webhook: answered HTTP 500',
        retryable: true,
      },
    ]);
  });

  it('reports undelivered when every target failed', async () => {
    const outcome = await notify(
      deps([target('telegram', true), target('slack', true)]),
      JSON.stringify(event('certificate.revoked')),
    );
    expect(outcome).toEqual({
      status: 'undelivered',
      subject: 'certkeeper: web-1 certificate revoked',
      failed: ['telegram', 'slack'],
    });
  });

  it('ignores event types nobody asked for, and sends nothing', async () => {
    const t = target('telegram');
    const outcome = await notify(deps([t]), JSON.stringify(event('certificate.renewed')));
    expect(outcome).toEqual({ status: 'ignored', type: 'certificate.renewed', certificate: 'web-1' });
    expect(t.sent).toEqual([]);
  });

  it('rejects a malformed message without trying any target', async () => {
    const t = target('telegram');
    const outcome = await notify(deps([t]), '{"hello":');
    expect(outcome.status).toBe('rejected');
    expect(outcome.status === 'rejected' && outcome.error).toBeInstanceOf(ValidationError);
    expect(t.sent).toEqual([]);
  });
});

describe('parseNotifierEnv', () => {
  const ARN = 'arn:aws:secretsmanager:us-east-1:123456789012:secret:x';
  const TOPIC = 'arn:aws:sns:us-east-1:123456789012:alerts';

  it('turns on the targets whose variables are set; "" counts as unset', () => {
    const config = parseNotifierEnv({
      CERTKEEPER_TELEGRAM_TOKEN_SECRET_ARN: ARN,
      CERTKEEPER_TELEGRAM_CHAT_ID: ' -1001234 ',
      CERTKEEPER_SLACK_WEBHOOK_SECRET_ARN: '',
      CERTKEEPER_NOTIFICATIONS_TOPIC_ARN: TOPIC,
      CERTKEEPER_NOTIFY_TYPES: 'certificate.renewed, certificate.revoked,',
      AWS_REGION: 'eu-west-1',
    });
    expect(config).toEqual({
      telegram: { tokenSecretArn: ARN, chatId: '-1001234', apiUrl: undefined },
      slack: undefined,
      webhook: undefined,
      email: { topicArn: TOPIC },
      types: ['certificate.renewed', 'certificate.revoked'],
      region: 'eu-west-1',
    });
  });

  it('forwards failures, expiry warnings, revocations and fleet lag by default', () => {
    expect(parseNotifierEnv({ CERTKEEPER_WEBHOOK_URL_SECRET_ARN: ARN }).types).toEqual([
      'certificate.renewal_failed',
      'certificate.expiring',
      'certificate.revoked',
      'certificate.deployment_lagging',
      'certificate.deployment_recovered',
    ]);
  });

  it.each([
    [{}, 'environment', 'no notification target is configured'],
    [{ CERTKEEPER_TELEGRAM_TOKEN_SECRET_ARN: ARN }, 'environment.CERTKEEPER_TELEGRAM_CHAT_ID', 'is not set'],
    [{ CERTKEEPER_TELEGRAM_CHAT_ID: '42' }, 'environment.CERTKEEPER_TELEGRAM_TOKEN_SECRET_ARN', 'is not set'],
    [
      { CERTKEEPER_SLACK_WEBHOOK_SECRET_ARN: 'slack-webhook' },
      'environment.CERTKEEPER_SLACK_WEBHOOK_SECRET_ARN',
      'ARN',
    ],
    [
      { CERTKEEPER_WEBHOOK_URL_SECRET_ARN: 'https://hooks.example.com/x' },
      'environment.CERTKEEPER_WEBHOOK_URL_SECRET_ARN',
      'ARN',
    ],
    [
      { CERTKEEPER_NOTIFICATIONS_TOPIC_ARN: TOPIC, CERTKEEPER_NOTIFY_TYPES: 'certificate.expired' },
      'environment.CERTKEEPER_NOTIFY_TYPES',
      '"certificate.expired" is not an event type',
    ],
  ])('%j is refused, naming %s', (env, field, problem) => {
    let err: unknown;
    try {
      parseNotifierEnv(env);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ValidationError);
    expect((err as ValidationError).field).toBe(field);
    expect((err as ValidationError).message).toContain(problem);
  });
});

/**
 * The notifier Lambda end to end: secrets from moto's Secrets Manager, email through a real
 * SNS topic in moto (an SQS queue subscribed in place of the mailboxes), and a local HTTP
 * server standing in for the Telegram Bot API, a Slack incoming webhook and a JSON webhook.
 */
import {
  CreateSecretCommand,
  PutSecretValueCommand,
  SecretsManagerClient,
} from '@aws-sdk/client-secrets-manager';
import { CreateTopicCommand, SubscribeCommand } from '@aws-sdk/client-sns';
import {
  CreateQueueCommand,
  DeleteMessageBatchCommand,
  GetQueueAttributesCommand,
  ReceiveMessageCommand,
} from '@aws-sdk/client-sqs';
import type { SNSEvent } from 'aws-lambda';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { handler } from '../../functions/notifier.js';
import { resetNotifierRuntime } from '../../functions/notifier-runtime.js';
import { SnsPublisher } from '../../shared/events/sns.js';
import { HOUR, ManualClock } from '../../shared/model/clock.js';
import type { CertificateEvent } from '../../shared/model/event.js';
import type { Log } from '../../shared/model/log.js';
import { type HttpRecorder, startHttpRecorder } from '../support/http-recorder.js';
import { peers, snsClient, sqsClient, uniqueName } from '../../scripts/test-kit/peers.js';

const NOW = new Date('2026-11-22T11:00:00Z');
const TOKEN = '123456:AAH-integration_token';
const CHAT_ID = '-1009876543210';
const SLACK_PATH = '/services/T0001/B0001/slack-credential';

const sns = snsClient();
const sqs = sqsClient();
let server: HttpRecorder;
let secretsManager: SecretsManagerClient;
let tokenArn: string;
let emailQueueUrl: string;
let env: Record<string, string>;
let logs: { level: string; message: string; extra?: Record<string, unknown> }[];

const failed: CertificateEvent = {
  type: 'certificate.renewal_failed',
  certificate: 'web-1',
  identifiers: ['203.0.113.10'],
  serial: '04A1B2',
  notAfter: new Date(NOW.getTime() + 19.5 * HOUR).toISOString(),
  bucket: 'certs',
  manifestKey: 'certificates/web-1/current.json',
  status: 'failing',
  attempt: 12,
  nextAttemptAt: new Date(NOW.getTime() + 2 * HOUR).toISOString(),
  error: { type: 'urn:ietf:params:acme:error:connection', detail: 'ACME connection: Connection refused' },
  at: NOW.toISOString(),
};
const SUBJECT = 'certkeeper: web-1 renewal failing';
const TEXT = [
  'web-1 (203.0.113.10) expires in 19 h; 12 renewal attempts failed: urn:ietf:params:acme:error:connection — Connection refused.',
  'Status: failing. Attempts go on; the current certificate stays in place.',
  'Next attempt: 2026-11-22 13:00 UTC (in 2 h).',
  'Run `certkeeper status web-1` for the full error and history.',
].join('\n');

const alarm = {
  AlarmName: 'certkeeper-issuer-dlq',
  AlarmDescription: 'Work messages reached the dead-letter queue: see the issuer logs.',
  AWSAccountId: '123456789012',
  NewStateValue: 'ALARM',
  NewStateReason: 'Threshold Crossed: 1 datapoint [2.0] was greater than the threshold (0.0).',
  StateChangeTime: '2026-11-22T10:59:00.000+0000',
  Region: 'US East (N. Virginia)',
  AlarmArn: 'arn:aws:cloudwatch:us-east-1:123456789012:alarm:certkeeper-issuer-dlq',
  OldStateValue: 'OK',
};

beforeAll(async () => {
  const { motoEndpoint, region } = peers();
  server = await startHttpRecorder();
  secretsManager = new SecretsManagerClient({
    endpoint: motoEndpoint,
    region,
    credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
  });
  const secret = async (name: string, value: string) =>
    (await secretsManager.send(new CreateSecretCommand({ Name: uniqueName(name), SecretString: value })))
      .ARN!;
  tokenArn = await secret('telegram-token', `${TOKEN}\n`);
  const slackArn = await secret('slack-webhook', `${server.url}${SLACK_PATH}`);
  const webhookArn = await secret('webhook-url', `${server.url}/hooks/certkeeper\n`);

  const topicArn = (await sns.send(new CreateTopicCommand({ Name: uniqueName('notifications') }))).TopicArn!;
  emailQueueUrl = (await sqs.send(new CreateQueueCommand({ QueueName: uniqueName('mailbox') }))).QueueUrl!;
  const { Attributes } = await sqs.send(
    new GetQueueAttributesCommand({ QueueUrl: emailQueueUrl, AttributeNames: ['QueueArn'] }),
  );
  await sns.send(
    new SubscribeCommand({ TopicArn: topicArn, Protocol: 'sqs', Endpoint: Attributes!.QueueArn }),
  );

  env = {
    AWS_REGION: region,
    AWS_ACCESS_KEY_ID: 'test',
    AWS_SECRET_ACCESS_KEY: 'test',
    AWS_ENDPOINT_URL: motoEndpoint,
    POWERTOOLS_METRICS_DISABLED: 'true',
    CERTKEEPER_TELEGRAM_TOKEN_SECRET_ARN: tokenArn,
    CERTKEEPER_TELEGRAM_CHAT_ID: CHAT_ID,
    CERTKEEPER_TELEGRAM_API_URL: server.url,
    CERTKEEPER_SLACK_WEBHOOK_SECRET_ARN: slackArn,
    CERTKEEPER_WEBHOOK_URL_SECRET_ARN: webhookArn,
    CERTKEEPER_NOTIFICATIONS_TOPIC_ARN: topicArn,
  };
});
afterAll(() => server.close());
beforeEach(() => {
  server.reset();
  coldStart();
});

/** A new container: the environment as set, secrets not yet read. */
function coldStart(changes: Record<string, string> = {}): void {
  delete process.env.CERTKEEPER_NOTIFY_TYPES;
  Object.assign(process.env, env, changes);
  logs = [];
  const record =
    (level: string) =>
    (message: string, extra?: Record<string, unknown>): void => {
      logs.push({ level, message, extra });
    };
  const log: Log = {
    debug: record('debug'),
    info: record('info'),
    warn: record('warn'),
    error: record('error'),
  };
  resetNotifierRuntime({ clock: new ManualClock(NOW), log });
}

/** The Lambda event for one SNS message, built from the envelope SNS delivered to a queue. */
async function publishedAsLambdaEvent(event: CertificateEvent): Promise<SNSEvent> {
  const topicArn = (await sns.send(new CreateTopicCommand({ Name: uniqueName('events') }))).TopicArn!;
  const queueUrl = (await sqs.send(new CreateQueueCommand({ QueueName: uniqueName('envelope') }))).QueueUrl!;
  const { Attributes } = await sqs.send(
    new GetQueueAttributesCommand({ QueueUrl: queueUrl, AttributeNames: ['QueueArn'] }),
  );
  await sns.send(
    new SubscribeCommand({ TopicArn: topicArn, Protocol: 'sqs', Endpoint: Attributes!.QueueArn }),
  );
  await new SnsPublisher(sns, { topicArn }).publish(event);
  const [envelope] = await receive(queueUrl);
  return { Records: [snsRecord(envelope as SnsEnvelope)] };
}

interface SnsEnvelope {
  MessageId: string;
  TopicArn: string;
  Subject?: string;
  Message: string;
  Timestamp: string;
  MessageAttributes?: Record<string, { Type: string; Value: string }>;
}

function snsRecord(envelope: SnsEnvelope): SNSEvent['Records'][number] {
  return {
    EventSource: 'aws:sns',
    EventVersion: '1.0',
    EventSubscriptionArn: `${envelope.TopicArn}:subscription`,
    Sns: {
      Type: 'Notification',
      SignatureVersion: '1',
      Signature: '',
      SigningCertUrl: '',
      UnsubscribeUrl: '',
      MessageAttributes: envelope.MessageAttributes ?? {},
      ...envelope,
    },
  };
}

const alarmEvent = (): SNSEvent => ({
  Records: [
    snsRecord({
      MessageId: uniqueName('alarm'),
      TopicArn: 'arn:aws:sns:us-east-1:123456789012:certkeeper-alarms',
      Subject: 'ALARM: "certkeeper-issuer-dlq" in US East (N. Virginia)',
      Message: JSON.stringify(alarm),
      Timestamp: NOW.toISOString(),
    }),
  ],
});

/** The SNS envelopes waiting in a queue (JSON bodies), taken off it so no later test sees them. */
async function receive(queueUrl: string): Promise<unknown[]> {
  const out = await sqs.send(
    new ReceiveMessageCommand({ QueueUrl: queueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 1 }),
  );
  const messages = out.Messages ?? [];
  if (messages.length > 0) {
    await sqs.send(
      new DeleteMessageBatchCommand({
        QueueUrl: queueUrl,
        Entries: messages.map((m, i) => ({ Id: String(i), ReceiptHandle: m.ReceiptHandle! })),
      }),
    );
  }
  return messages.map((m) => JSON.parse(m.Body!) as unknown);
}

const path = (prefix: string) => server.requests.filter((r) => r.path.startsWith(prefix));

describe('notifier handler', () => {
  it('sends one renewal failure to Telegram, Slack, the webhook and email', async () => {
    const lambdaEvent = await publishedAsLambdaEvent(failed);
    await handler(lambdaEvent);

    expect(server.requests.map((r) => `${r.method} ${r.path}`).sort()).toEqual(
      [`POST /bot${TOKEN}/sendMessage`, 'POST /hooks/certkeeper', `POST ${SLACK_PATH}`].sort(),
    );
    expect(path('/bot')[0]!.body).toEqual({
      chat_id: CHAT_ID,
      text: `🔴 ${SUBJECT}\n${TEXT}`,
      disable_web_page_preview: true,
    });
    expect(path(SLACK_PATH)[0]!.body).toEqual({ text: `🔴 *${SUBJECT}*\n${TEXT}` });
    expect(path('/hooks/')[0]!.body).toEqual({
      subject: SUBJECT,
      text: TEXT,
      severity: 'critical',
      event: failed,
    });
    expect(server.requests.every((r) => r.contentType === 'application/json')).toBe(true);

    const mails = (await receive(emailQueueUrl)) as SnsEnvelope[];
    expect(mails.map((m) => ({ Subject: m.Subject, Message: m.Message }))).toEqual([
      { Subject: SUBJECT, Message: TEXT },
    ]);
    expect(logs.filter((l) => l.level !== 'info')).toEqual([]);
  });

  it('forwards a CloudWatch alarm', async () => {
    await handler(alarmEvent());
    const subject = 'certkeeper: alarm certkeeper-issuer-dlq is ALARM';
    const text = [
      'certkeeper-issuer-dlq is ALARM since 2026-11-22 10:59 UTC (was OK).',
      'Reason: Threshold Crossed: 1 datapoint [2.0] was greater than the threshold (0.0).',
      'Work messages reached the dead-letter queue: see the issuer logs.',
      'Alarm: https://us-east-1.console.aws.amazon.com/cloudwatch/home?region=us-east-1#alarmsV2:alarm/certkeeper-issuer-dlq',
    ].join('\n');
    expect(path('/hooks/')[0]!.body).toEqual({ subject, text, severity: 'critical', event: alarm });
    expect(path('/bot')[0]!.body).toMatchObject({ text: `🔴 ${subject}\n${text}` });
    const mails = (await receive(emailQueueUrl)) as SnsEnvelope[];
    expect(mails.map((m) => m.Subject)).toEqual([subject]);
  });

  it('one target failing (Slack 500) does not stop the others, and is logged without the URL', async () => {
    server.answer('/services/', { status: 500, body: 'internal_error' });
    await expect(handler(alarmEvent())).resolves.toBeUndefined();

    expect(path('/bot')).toHaveLength(1);
    expect(path('/hooks/')).toHaveLength(1);
    expect(await receive(emailQueueUrl)).toHaveLength(1);
    const warnings = logs.filter((l) => l.level === 'warn');
    expect(warnings.map((w) => [w.message, w.extra?.target, w.extra?.retryable])).toEqual([
      ['notification target failed', 'slack', true],
    ]);
    expect(warnings[0]!.extra?.error).toBe(
      `Slack webhook: POST ${server.url}/… answered HTTP 500: internal_error`,
    );
    expect(JSON.stringify(logs)).not.toContain('slack-credential');
  });

  it('throws when every target failed, so Lambda retries; the token appears nowhere', async () => {
    coldStart({
      CERTKEEPER_NOTIFICATIONS_TOPIC_ARN: `arn:aws:sns:us-east-1:123456789012:${uniqueName('gone')}`,
    });
    // Telegram echoing the token it was sent is the worst case: it must still come out redacted.
    server.answer('/bot', { status: 500, body: `down ${TOKEN}` });
    server.answer('/services/', { status: 500, body: 'down' });
    server.answer('/hooks/', { status: 503, body: 'down' });
    const err = await handler(alarmEvent()).then(
      () => undefined,
      (e: unknown) => e as Error,
    );
    expect(err?.message).toMatch(/^no notification target accepted SNS message alarm-/);
    const warnings = logs.filter((l) => l.level === 'warn').map((w) => w.extra?.target);
    expect(warnings.sort()).toEqual(['email', 'slack', 'telegram', 'webhook']);
    expect(JSON.stringify(logs)).toContain('/bot<redacted>/sendMessage answered HTTP 500: down <redacted>');
    expect(`${JSON.stringify(logs)} ${err?.message} ${err?.stack}`).not.toContain(TOKEN);
  });

  it('reads a secret once per cold start', async () => {
    await handler(alarmEvent());
    const rotated = '654321:BBH-rotated_token';
    await secretsManager.send(new PutSecretValueCommand({ SecretId: tokenArn, SecretString: rotated }));
    try {
      await handler(alarmEvent());
      coldStart();
      await handler(alarmEvent());
      expect(path('/bot').map((r) => r.path)).toEqual([
        `/bot${TOKEN}/sendMessage`,
        `/bot${TOKEN}/sendMessage`,
        `/bot${rotated}/sendMessage`,
      ]);
      expect(await receive(emailQueueUrl)).toHaveLength(3);
    } finally {
      await secretsManager.send(new PutSecretValueCommand({ SecretId: tokenArn, SecretString: TOKEN }));
    }
  });

  it('forwards only the configured event types', async () => {
    const renewed: CertificateEvent = { ...failed, type: 'certificate.renewed', status: 'valid' };
    await handler(await publishedAsLambdaEvent(renewed));
    expect(server.requests).toEqual([]);
    expect(logs.map((l) => l.extra?.status)).toEqual(['ignored']);

    coldStart({ CERTKEEPER_NOTIFY_TYPES: 'certificate.renewed' });
    await handler(await publishedAsLambdaEvent(renewed));
    expect(path('/hooks/')[0]!.body).toMatchObject({
      subject: 'certkeeper: web-1 renewed',
      severity: 'info',
    });
    expect(await receive(emailQueueUrl)).toHaveLength(1);
  });
});

import { createServer } from 'node:net';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { NotFoundError } from '../../../shared/model/errors.js';
import type { NotificationMessage } from '../../../shared/notify/format.js';
import { CachedSecretReader, type SecretReader } from '../../../shared/aws/secrets.js';
import { SlackTarget } from '../../../shared/notify/slack.js';
import { NotificationError } from '../../../shared/notify/target.js';
import { TelegramTarget } from '../../../shared/notify/telegram.js';
import { WebhookTarget } from '../../../shared/notify/webhook.js';
import { type HttpRecorder, startHttpRecorder } from '../../support/http-recorder.js';

const TOKEN = '123456:AAH-secret_token';
const TOKEN_ARN = 'arn:aws:secretsmanager:us-east-1:123456789012:secret:telegram-abc';
const SLACK_ARN = 'arn:aws:secretsmanager:us-east-1:123456789012:secret:slack-abc';
const SLACK_PATH = '/services/T000/B000/slack-credential';
const WEBHOOK_ARN = 'arn:aws:secretsmanager:us-east-1:123456789012:secret:webhook-abc';

const message: NotificationMessage = {
  subject: 'certkeeper: web-1 renewal failed',
  text: 'web-1 (203.0.113.10) expires in 19 h; 1 renewal attempt failed: <urn> & more.',
  severity: 'warning',
  event: {
    type: 'certificate.renewal_failed',
    certificate: 'web-1',
    identifiers: ['203.0.113.10'],
    attempt: 1,
    at: '2026-11-22T11:00:00.000Z',
  },
};

let server: HttpRecorder;
let secretValues: Record<string, string>;
const secrets: SecretReader = {
  read: async (arn) => {
    const value = secretValues[arn];
    if (value === undefined) throw new NotFoundError(`no secret ${arn}`, 'create it');
    return value;
  },
};

beforeAll(async () => {
  server = await startHttpRecorder();
});
afterAll(() => server.close());
beforeEach(() => {
  server.reset();
  secretValues = { [TOKEN_ARN]: TOKEN, [SLACK_ARN]: `${server.url}${SLACK_PATH}` };
});

const telegram = (extra: { chatId?: string; timeoutMs?: number } = {}) =>
  new TelegramTarget({
    secrets,
    tokenSecretArn: TOKEN_ARN,
    chatId: '-1001234',
    apiUrl: `${server.url}/`,
    ...extra,
  });
const slack = () => new SlackTarget({ secrets, webhookSecretArn: SLACK_ARN });

async function failure(send: Promise<void>): Promise<NotificationError> {
  const err = await send.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(NotificationError);
  return err as NotificationError;
}

describe('TelegramTarget', () => {
  it('POSTs sendMessage with the token in the path and plain text', async () => {
    await telegram().send(message);
    expect(server.requests).toEqual([
      {
        method: 'POST',
        path: `/bot${TOKEN}/sendMessage`,
        contentType: 'application/json',
        body: {
          chat_id: '-1001234',
          text: `🟠 ${message.subject}\n${message.text}`,
          disable_web_page_preview: true,
        },
      },
    ]);
  });

  it.each([
    [401, false, 'internal', `the bot token in ${TOKEN_ARN}`],
    [400, false, 'internal', 'check CERTKEEPER_TELEGRAM_CHAT_ID (-1001234)'],
    [429, true, 'retry-later', undefined],
    [502, true, 'internal', undefined],
  ])('HTTP %i: retryable %s, code %s, with a fix', async (status, retryable, code, fix) => {
    // Whatever the API echoes, the token does not come back out.
    server.answer('/bot', { status, body: `{"ok":false,"description":"no such bot ${TOKEN}"}` });
    const err = await failure(telegram().send(message));
    expect(err).toMatchObject({ target: 'Telegram', status, retryable, code });
    expect(err.message).toContain(
      `Telegram: POST ${server.url}/bot<redacted>/sendMessage answered HTTP ${status}`,
    );
    expect(err.message).toContain('no such bot <redacted>');
    expect(err.fix).toEqual(fix === undefined ? undefined : expect.stringContaining(fix));
    expect(`${err.message} ${err.fix} ${err.stack}`).not.toContain(TOKEN);
  });

  it('gives up on a hanging API after the timeout, retryably', async () => {
    server.answer('/bot', { status: 200, delayMs: 2_000 });
    const err = await failure(telegram({ timeoutMs: 100 }).send(message));
    expect(err).toMatchObject({ code: 'unreachable', retryable: true, status: undefined });
    expect(err.message).toBe(
      `Telegram: POST ${server.url}/bot<redacted>/sendMessage failed: no answer within 100 ms`,
    );
  });

  it('refuses a secret that holds no bot token, without echoing it', async () => {
    secretValues[TOKEN_ARN] = '{"token":"123456:AAH-secret_token"}';
    const err = await failure(telegram().send(message));
    expect(err).toMatchObject({ retryable: false });
    expect(err.message).toBe(`Telegram: the secret ${TOKEN_ARN} does not hold a bot token`);
    expect(server.requests).toEqual([]);
  });
});

describe('SlackTarget', () => {
  it('POSTs one mrkdwn text to the webhook from the secret, escaping &, < and >', async () => {
    await slack().send({ ...message, severity: 'critical' });
    expect(server.requests).toEqual([
      {
        method: 'POST',
        path: SLACK_PATH,
        contentType: 'application/json',
        body: {
          text: `🔴 *${message.subject}*\nweb-1 (203.0.113.10) expires in 19 h; 1 renewal attempt failed: &lt;urn&gt; &amp; more.`,
        },
      },
    ]);
  });

  it('names the secret but never the webhook URL when Slack refuses', async () => {
    server.answer('/services/', { status: 404, body: 'no_service' });
    const err = await failure(slack().send(message));
    expect(err.message).toBe(`Slack webhook: POST ${server.url}/… answered HTTP 404: no_service`);
    expect(err).toMatchObject({ retryable: false, status: 404 });
    expect(err.fix).toContain(SLACK_ARN);
    expect(`${err.message} ${err.fix}`).not.toContain('slack-credential');
  });

  it('says when nothing listens, retryably', async () => {
    const closed = await unusedPort();
    secretValues[SLACK_ARN] = `http://127.0.0.1:${closed}${SLACK_PATH}`;
    const err = await failure(slack().send(message));
    expect(err.message).toBe(`Slack webhook: POST http://127.0.0.1:${closed}/… failed: ECONNREFUSED`);
    expect(err).toMatchObject({ code: 'unreachable', retryable: true });
  });
});

describe('WebhookTarget', () => {
  const webhook = () => new WebhookTarget({ secrets, urlSecretArn: WEBHOOK_ARN });
  beforeEach(() => {
    secretValues[WEBHOOK_ARN] = `${server.url}/hooks/certkeeper?key=k1`;
  });

  it('POSTs subject, text, severity and the event to the URL its secret holds', async () => {
    await webhook().send(message);
    expect(server.requests).toEqual([
      {
        method: 'POST',
        path: '/hooks/certkeeper?key=k1',
        contentType: 'application/json',
        body: { subject: message.subject, text: message.text, severity: 'warning', event: message.event },
      },
    ]);
  });

  it('shows only the host of a failing webhook (its path may hold a token)', async () => {
    server.answer('/hooks/', { status: 500, body: 'upstream down' });
    const err = await failure(webhook().send(message));
    expect(err.message).toBe(`Webhook: POST ${server.url}/… answered HTTP 500: upstream down`);
    expect(err).toMatchObject({ retryable: true, fix: undefined });
  });

  it('refuses a secret that holds no URL, without echoing it', async () => {
    secretValues[WEBHOOK_ARN] = 'not a url k1';
    const err = await failure(webhook().send(message));
    expect(err.message).toBe(`Webhook: the secret ${WEBHOOK_ARN} does not hold a webhook URL`);
    expect(err.message).not.toContain('k1');
    expect(server.requests).toEqual([]);
  });
});

describe('CachedSecretReader', () => {
  it('reads a secret once, and again after a failed read', async () => {
    let reads = 0;
    let fail = true;
    const cached = new CachedSecretReader({
      read: async (arn) => {
        reads += 1;
        if (fail) throw new Error('throttled');
        return `value of ${arn}`;
      },
    });
    await expect(cached.read('arn:a')).rejects.toThrow('throttled');
    fail = false;
    const values = await Promise.all([cached.read('arn:a'), cached.read('arn:a'), cached.read('arn:a')]);
    expect(values).toEqual(['value of arn:a', 'value of arn:a', 'value of arn:a']);
    expect(reads).toBe(2);
  });
});

/** A port nobody listens on: bound, read, released. */
async function unusedPort(): Promise<number> {
  const probe = createServer();
  await new Promise<void>((ready) => probe.listen(0, '127.0.0.1', ready));
  const { port } = probe.address() as { port: number };
  await new Promise((closed) => probe.close(closed));
  return port;
}

/**
 * The lagging and recovered alerts, from the events the fleet evaluation makes, through the
 * SNS message shape the notifier parses, to the text Telegram is sent (a local stand-in for
 * the Bot API records it).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { evaluateFleet } from '../../../shared/fleet/evaluate.js';
import type { FleetStatus } from '../../../shared/fleet/status.js';
import { MINUTE } from '../../../shared/model/clock.js';
import type { CertificateEvent } from '../../../shared/model/event.js';
import { formatNotification } from '../../../shared/notify/format.js';
import { parseNotification } from '../../../shared/events/notification.js';
import { TelegramTarget } from '../../../shared/notify/telegram.js';
import { type HttpRecorder, startHttpRecorder } from '../../support/http-recorder.js';
import { at, deployment, NAME, NEW, OLD, record, report } from '../../support/fleet-records.js';

const TOKEN = '123456:AAH-fleet_token';
const ERROR =
  'rolled back to the previous files: nginx -s reload exited with 1: [emerg] cannot load certificate key. Fix: run nginx -t on the server';

let recorder: HttpRecorder;
beforeAll(async () => (recorder = await startHttpRecorder()));
afterAll(() => recorder.close());

/** web-2 falls behind 40 minutes after NEW was stored, then catches up 20 minutes later. */
function fleetEvents(): { lagging: CertificateEvent; recovered: CertificateEvent } {
  const records = [record({ agents: ['web-1', 'web-2'] })];
  const tick = (now: Date, web2: Parameters<typeof deployment>[0], previous?: FleetStatus) =>
    evaluateFleet(
      records,
      {
        reports: new Map([
          [
            'web-1',
            report('web-1', now, { [NAME]: deployment({ installedSerial: NEW, servedSerial: NEW }) }),
          ],
          ['web-2', report('web-2', now, { [NAME]: deployment(web2) }, 4 * MINUTE)],
        ]),
        probes: new Map(),
      },
      previous,
      now,
    );
  const behind = tick(at(40 * MINUTE), { servedSerial: OLD, lastAction: 'rolled-back', lastError: ERROR });
  const back = tick(at(60 * MINUTE), { installedSerial: NEW, servedSerial: NEW }, behind.status);
  expect(behind.events).toHaveLength(1);
  expect(back.events).toHaveLength(1);
  return { lagging: behind.events[0]!, recovered: back.events[0]! };
}

/** What the notifier Lambda does with an SNS message, then what the chat receives. */
async function telegramText(event: CertificateEvent, now: Date): Promise<string> {
  const message = formatNotification(parseNotification(JSON.stringify(event)), now);
  recorder.reset();
  await new TelegramTarget({
    secrets: { read: async () => TOKEN },
    tokenSecretArn: 'arn:aws:secretsmanager:us-east-1:123456789012:secret:telegram-abc',
    chatId: '-1001234',
    apiUrl: recorder.url,
  }).send(message);
  expect(recorder.requests).toHaveLength(1);
  return (recorder.requests[0]!.body as { text: string }).text;
}

describe('deployment alerts as Telegram shows them', () => {
  it('lagging: the server, the current and the old serial, the last report and the error', async () => {
    const text = await telegramText(fleetEvents().lagging, at(41 * MINUTE));
    expect(text).toBe(
      [
        '🟠 certkeeper: web: agent web-2 is behind',
        `web (www.example.com): agent web-2 is behind; the current serial is ${NEW}, stored 41 min ago.`,
        `It installed ${OLD} and serves ${OLD}.`,
        'Last report: 5 min ago.',
        `Last error: ${ERROR}`,
        'Run `certkeeper status web` to see every server.',
      ].join('\n'),
    );
  });

  it('recovered: the server and the serial it has now', async () => {
    const text = await telegramText(fleetEvents().recovered, at(61 * MINUTE));
    expect(text).toBe(
      [
        '🟢 certkeeper: web: agent web-2 recovered',
        `web (www.example.com): agent web-2 has the current certificate again (serial ${NEW}).`,
      ].join('\n'),
    );
  });

  it('silent and unreachable targets are critical', async () => {
    const records = [record({ agents: ['web-3'], probes: [{ host: '203.0.113.10', port: 443 }] })];
    const now = at(2 * 60 * MINUTE);
    const { events } = evaluateFleet(
      records,
      {
        reports: new Map(),
        probes: new Map([[NAME, new Map([['203.0.113.10:443', { error: 'timeout: no TLS handshake' }]])]]),
      },
      undefined,
      now,
    );
    const texts = await Promise.all(
      events.map((e) => formatNotification({ kind: 'certificate', event: e }, now)),
    );
    expect(texts.map((m) => [m.severity, m.subject])).toEqual([
      ['critical', 'certkeeper: web: agent web-3 is silent'],
      ['critical', 'certkeeper: web: endpoint 203.0.113.10:443 is unreachable'],
    ]);
    expect(texts[0]!.text).toContain('Last report: never.');
    expect(texts[1]!.text).toContain('Last error: timeout: no TLS handshake');
  });
});

/**
 * ARI-driven renewal against Pebble (RFC 9773): the handlers follow the window Pebble
 * suggests, leave a certificate alone while its window is in the future, and renew with
 * `replaces` once the window has moved into the past (forced with POST /set-renewal-info/).
 */
import { GetObjectCommand } from '@aws-sdk/client-s3';
import { beforeAll, describe, expect, it } from 'vitest';
import { declareCertificate } from '../../shared/usecases/declare-certificates.js';
import { DynamoInventory } from '../../shared/inventory/dynamodb.js';
import { HOUR, ManualClock, MINUTE } from '../../shared/model/clock.js';
import type { CertificateEvent } from '../../shared/model/event.js';
import type { CertificateState } from '../../shared/model/state.js';
import { certId } from '../../shared/pki/index.js';
import type { Manifest } from '../../shared/store/store.js';
import { receiveAll, runTick } from '../../scripts/stand-in-stack/pipeline.js';
import type { StandInStack } from '../../scripts/stand-in-stack/stack.js';
import { pebblePost } from '../../scripts/test-kit/peers.js';
import { pointHandlersAt, tapAcmeTransports, useStandInStack } from '../../scripts/test-kit/stack.js';

const clock = new ManualClock(Date.now());
let stack: StandInStack;
let inventory: DynamoInventory;
/** The `replaces` field of every newOrder payload this process sent (RFC 9773 §5). */
const orderReplaces: (string | undefined)[] = [];

function watchNewOrders(): void {
  tapAcmeTransports({
    request: (config) => {
      if (config.method === 'post' && /order-plz/.test(config.url ?? '')) {
        // Request interceptors run before axios serialises the body.
        const jws = (typeof config.data === 'string' ? JSON.parse(config.data) : config.data) as {
          payload: string;
        };
        const payload = JSON.parse(Buffer.from(jws.payload, 'base64url').toString()) as { replaces?: string };
        orderReplaces.push(payload.replaces);
      }
      return config;
    },
  });
}

const state = async (): Promise<CertificateState> => (await inventory.get('ari'))!.state;
const manifest = async (): Promise<Manifest> => {
  const out = await stack.clients.s3.send(
    new GetObjectCommand({ Bucket: stack.bucket, Key: 'certificates/ari/current.json' }),
  );
  return JSON.parse(await out.Body!.transformToString()) as Manifest;
};
const certPem = async (): Promise<string> => {
  const out = await stack.clients.s3.send(
    new GetObjectCommand({ Bucket: stack.bucket, Key: (await manifest()).files.cert.key }),
  );
  return out.Body!.transformToString();
};
const events = async (): Promise<CertificateEvent[]> =>
  (await receiveAll(stack.clients.sqs, stack.tapQueueUrl)).map(
    (m) => JSON.parse(m.Body!) as CertificateEvent,
  );

/** Makes Pebble answer this window for the certificate (its management API). */
async function setWindow(pem: string, start: Date, end: Date): Promise<void> {
  const ariResponse = JSON.stringify({
    suggestedWindow: { start: start.toISOString(), end: end.toISOString() },
  });
  const res = await pebblePost('/set-renewal-info/', { certificate: pem, ariResponse });
  expect(res.status).toBe(200);
}

/** Moves the handlers' clock past the next ARI poll, as the real schedule would. */
async function passNextPoll(): Promise<void> {
  const next = new Date((await state()).ari!.nextPollAt);
  clock.set(next.getTime() + MINUTE);
}

beforeAll(async () => {
  watchNewOrders();
  stack = await useStandInStack('renewal', ['ari.test']);
  pointHandlersAt(stack.env, { clock, random: () => 0.5 });
  inventory = new DynamoInventory({ client: stack.clients.dynamodb, tableName: stack.table });
  await declareCertificate(inventory, { name: 'ari', identifiers: ['www.ari.test'], profile: 'shortlived' });
});

describe('renewal driven by ARI', () => {
  let firstSerial: string;

  it('issues, then asks Pebble for the renewal window at once and records a time inside it', async () => {
    clock.set(Date.now()); // declared on the system clock just now
    const tick = await runTick(stack.clients.sqs, stack.queueUrl);
    expect(tick.scheduled.enqueued).toEqual(['ari']);
    const s = await state();
    firstSerial = s.current!.serial;
    expect(s.current!.certId).toBe(certId(await certPem()));
    expect(s.ari).toMatchObject({ certId: s.current!.certId });
    const { windowStart, windowEnd, selectedAt, nextPollAt } = s.ari!;
    expect(
      new Date(selectedAt!) >= new Date(windowStart!) && new Date(selectedAt!) <= new Date(windowEnd!),
    ).toBe(true);
    expect(new Date(selectedAt!) > clock.now()).toBe(true);
    // The due index points at the earliest of the chosen time and the next poll.
    expect(s.dueAt).toBe(new Date(Math.min(Date.parse(selectedAt!), Date.parse(nextPollAt))).toISOString());
    expect((await events()).map((e) => e.type)).toEqual(['certificate.issued']);
  });

  it('leaves the certificate alone while nothing is due', async () => {
    const tick = await runTick(stack.clients.sqs, stack.queueUrl);
    expect(tick.scheduled).toMatchObject({ checked: 0, enqueued: [] });
    expect((await state()).current!.serial).toBe(firstSerial);
  });

  it('with a window in the future, polls, keeps the certificate and records the chosen time', async () => {
    const start = new Date(clock.now().getTime() + 48 * HOUR);
    const end = new Date(start.getTime() + 10 * HOUR);
    await setWindow(await certPem(), start, end);
    await passNextPoll();
    const tick = await runTick(stack.clients.sqs, stack.queueUrl);
    expect(tick.scheduled.enqueued).toEqual(['ari']);
    const s = await state();
    expect(s.current!.serial).toBe(firstSerial);
    expect(s.ari).toMatchObject({
      windowStart: start.toISOString(),
      windowEnd: end.toISOString(),
      selectedAt: new Date(start.getTime() + 5 * HOUR).toISOString(), // random() = 0.5
    });
    expect(await events()).toEqual([]);
  });

  it('with the window in the past, one tick renews with `replaces` and announces it', async () => {
    const oldPem = await certPem();
    const oldCertId = certId(oldPem);
    const ordersBefore = orderReplaces.length;
    await setWindow(
      oldPem,
      new Date(clock.now().getTime() - 48 * HOUR),
      new Date(clock.now().getTime() - 24 * HOUR),
    );
    await passNextPoll();

    const tick = await runTick(stack.clients.sqs, stack.queueUrl);
    expect(tick.issuer.batchItemFailures).toEqual([]);
    const s = await state();
    expect(s.current!.serial).not.toBe(firstSerial);
    expect((await manifest()).serial).toBe(s.current!.serial);
    // The order named its predecessor; when Pebble refuses a correct certID (its sign-byte
    // quirk, about 1 in 256) the client orders once more without it, as RFC 9773 §5 allows.
    // A badNonce answer (Pebble rejects 5% of nonces) makes the client send the same request
    // again (RFC 8555 §6.5), so the same `replaces` may appear more than once.
    const sent = orderReplaces.slice(ordersBefore);
    const without = sent.indexOf(undefined);
    const withReplaces = without === -1 ? sent : sent.slice(0, without);
    expect(withReplaces.length).toBeGreaterThan(0);
    expect(withReplaces.every((r) => r === oldCertId)).toBe(true);
    expect(sent.slice(withReplaces.length).every((r) => r === undefined)).toBe(true);
    const renewed = (await events()).filter((e) => e.type === 'certificate.renewed');
    expect(renewed).toHaveLength(1);
    expect(renewed[0]).toMatchObject({ certificate: 'ari', serial: s.current!.serial, status: 'valid' });
    // The new certificate has its own ARI state from the start.
    expect(s.ari?.certId).toBe(s.current!.certId);
  });
});

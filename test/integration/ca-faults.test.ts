/**
 * The CA misbehaving, end to end through the real handlers: the fault proxy
 * (test/support/acme-fault-proxy.ts) sits between certkeeper and Pebble and makes the CA rate
 * limit new orders (429, Retry-After: 3600), go down (connection refused) or answer 500 on
 * every path. For each fault: the issuer returns within seconds and reports no batch item
 * failure, the state records the error and when to try again, the certificate in place is
 * untouched, one `certificate.renewal_failed` goes out for the first failure and none for
 * an identical second one, no attempt is made before the recorded time, and once the CA is
 * back the next attempt renews.
 *
 * The handlers run on a ManualClock. The 429 case runs near the wall clock (a changed key
 * type makes the certificate due at once); the other two at the certificate's own renewal
 * time, weeks ahead, where the ARI poll comes first.
 */
import { GetObjectCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { declareCertificate } from '../../shared/usecases/declare-certificates.js';
import { DynamoInventory } from '../../shared/inventory/dynamodb.js';
import { HOUR, ManualClock, MINUTE, SECOND } from '../../shared/model/clock.js';
import type { CertificateEvent } from '../../shared/model/event.js';
import type { CertificateState } from '../../shared/model/state.js';
import { renewalTime } from '../../shared/renewal/timing.js';
import type { Manifest } from '../../shared/store/store.js';
import { receiveAll, runTick } from '../../scripts/stand-in-stack/pipeline.js';
import type { StandInStack } from '../../scripts/stand-in-stack/stack.js';
import { type Fault, type FaultProxy, startPebbleFaultProxy } from '../support/acme-fault-proxy.js';
import { uniqueName } from '../../scripts/test-kit/peers.js';
import { pointHandlersAt, useStandInStack } from '../../scripts/test-kit/stack.js';

const NAME = 'flaky';
/** Unique per run, so runs against the same started peers (one moto) never share a zone. */
const ZONE = `${uniqueName('faults')}.test`;
const DOMAIN = `www.${ZONE}`;
const PROBLEM = 'urn:ietf:params:acme:error:';
/** Generous: a Lambda must not sleep through a CA's trouble; these take seconds at most. */
const TICK_BUDGET_MS = 20_000;

const clock = new ManualClock(Date.now());
let stack: StandInStack;
let inventory: DynamoInventory;
let proxy: FaultProxy;
/** How long each tick (scheduler + issuer) took, for the summary at the end. */
const durations: { what: string; ms: number }[] = [];

const state = async (): Promise<CertificateState> => (await inventory.get(NAME))!.state;

async function manifestSerial(): Promise<string> {
  const out = await stack.clients.s3.send(
    new GetObjectCommand({ Bucket: stack.bucket, Key: `certificates/${NAME}/current.json` }),
  );
  return (JSON.parse(await out.Body!.transformToString()) as Manifest).serial;
}

/** The events published since the last call (the SNS topic's SQS tap). */
async function events(): Promise<CertificateEvent[]> {
  return (await receiveAll(stack.clients.sqs, stack.tapQueueUrl))
    .map((m) => JSON.parse(m.Body!) as CertificateEvent)
    .filter((e) => e.certificate === NAME);
}

/**
 * Only renewal_failed is counted: a first failure late in Pebble's ARI window (29-31 days
 * of 90 left) may also bring `certificate.expiring` (1/3 of the lifetime left and failing).
 */
const failures = (list: CertificateEvent[]) => list.filter((e) => e.type === 'certificate.renewal_failed');

/** One scheduler tick and the issuer on what it queued, timed. */
async function tick(what: string) {
  const seen = proxy.requests.length;
  const started = performance.now();
  const result = await runTick(stack.clients.sqs, stack.queueUrl);
  const ms = Math.round(performance.now() - started);
  durations.push({ what, ms });
  console.log(
    `[faults] ${what}: tick (scheduler + issuer) took ${ms} ms; the proxy answered ${summarize(proxy.requests.slice(seen))}`,
  );
  return { ...result, ms };
}

/** "GET /dir 500 x3, HEAD /nonce-plz 200" */
function summarize(requests: string[]): string {
  const counts = new Map<string, number>();
  for (const r of requests) counts.set(r, (counts.get(r) ?? 0) + 1);
  const parts = [...counts].map(([r, n]) => (n > 1 ? `${r} x${n}` : r));
  return parts.length ? parts.join(', ') : 'nothing';
}

/** Moves the handlers' clock to the moment the current certificate is due for renewal. */
async function advanceToRenewalTime(): Promise<void> {
  const record = (await inventory.get(NAME))!;
  const at = renewalTime(record.spec, record.state.current!, record.state.ari).getTime();
  clock.set(Math.max(clock.now().getTime(), at) + MINUTE);
}

/** Moves the handlers' clock just past the recorded next attempt (never backwards). */
async function advancePastNextAttempt(): Promise<void> {
  const next = Date.parse((await state()).nextAttemptAt!);
  clock.set(Math.max(clock.now().getTime(), next) + SECOND);
}

const secondsBetween = (from: string, to: string): number => (Date.parse(to) - Date.parse(from)) / 1000;

beforeAll(async () => {
  stack = await useStandInStack('faults', [ZONE]);
  proxy = await startPebbleFaultProxy();
  // Every ACME request of the handlers goes through the proxy, on the test's clock.
  pointHandlersAt({ ...stack.env, CERTKEEPER_DIRECTORY_URL: proxy.directoryUrl }, { clock });
  inventory = new DynamoInventory({ client: stack.clients.dynamodb, tableName: stack.table });
  await declareCertificate(inventory, { name: NAME, identifiers: [DOMAIN], profile: 'classic' });
});

afterAll(async () => {
  console.log(
    `[faults] tick durations: ${durations.map((d) => `${d.what} ${(d.ms / 1000).toFixed(1)} s`).join('; ')}`,
  );
  await proxy?.close();
  stack?.clients.s3.destroy();
});

interface Scenario {
  label: string;
  fault: Fault;
  /** lastError.code and the ACME problem type (lastError.type, the event's error.type). */
  code: string;
  type: string | undefined;
  /** What the proxy must have answered on the first attempt; undefined: nothing reached it. */
  seen: RegExp | undefined;
  /** Sets things up (clock, spec) so the certificate is due for renewal. */
  makeDue(): Promise<void>;
  /** Checks nextAttemptAt after the first and the second failure. */
  checkNextAttempt(s: CertificateState, attempt: 1 | 2): void;
}

/**
 * One fault: the first failure (recorded, announced), no attempt before the recorded time,
 * an identical second failure (recorded, not announced), then the CA back (renewed).
 */
function faultScenario(scenario: Scenario): void {
  const { label, fault } = scenario;
  describe(label, () => {
    let serialBefore: string;

    const expectFailureRecorded = async (attempt: 1 | 2): Promise<CertificateState> => {
      const s = await state();
      expect(s.attempts).toBe(attempt);
      expect(s.status).toBe('valid'); // the certificate in place still serves
      expect(s.lastError).toMatchObject({ code: scenario.code, at: clock.now().toISOString() });
      expect(s.lastError!.type).toBe(scenario.type);
      scenario.checkNextAttempt(s, attempt);
      expect(s.current!.serial).toBe(serialBefore);
      expect(await manifestSerial()).toBe(serialBefore);
      return s;
    };

    it('first failure: the issuer returns within seconds, records the error and the next attempt, announces it once', async () => {
      serialBefore = (await state()).current!.serial;
      await scenario.makeDue();
      await proxy.setFault(fault);
      const seenBefore = proxy.requests.length;

      const result = await tick(`${label}, attempt 1`);
      expect(result.scheduled.enqueued).toEqual([NAME]);
      expect(result.issuer.batchItemFailures).toEqual([]);
      expect(result.ms).toBeLessThan(TICK_BUDGET_MS);
      const answered = proxy.requests.slice(seenBefore);
      if (scenario.seen) expect(answered).toContainEqual(expect.stringMatching(scenario.seen));
      else expect(answered).toEqual([]);

      const s = await expectFailureRecorded(1);
      const published = failures(await events());
      expect(published).toHaveLength(1);
      expect(published[0]).toMatchObject({
        attempt: 1,
        serial: serialBefore,
        nextAttemptAt: s.nextAttemptAt,
      });
      expect(published[0]!.error?.type).toBe(scenario.type);
    });

    it('holds the next attempt back until nextAttemptAt', async () => {
      const before = await state();
      clock.set(Date.parse(before.nextAttemptAt!) - SECOND);
      const seenBefore = proxy.requests.length;
      const result = await tick(`${label}, 1 s before nextAttemptAt`);
      expect(result.issuer.batchItemFailures).toEqual([]);
      expect(proxy.requests.slice(seenBefore).filter((r) => /order-plz/.test(r))).toEqual([]);
      const s = await state();
      expect(s).toMatchObject({
        attempts: 1,
        lastError: before.lastError,
        nextAttemptAt: before.nextAttemptAt,
      });
      expect(failures(await events())).toEqual([]);
    });

    it('second identical failure past nextAttemptAt: attempts 2, no second event', async () => {
      await advancePastNextAttempt();
      const result = await tick(`${label}, attempt 2`);
      expect(result.scheduled.enqueued).toEqual([NAME]);
      expect(result.issuer.batchItemFailures).toEqual([]);
      expect(result.ms).toBeLessThan(TICK_BUDGET_MS);
      await expectFailureRecorded(2);
      expect(failures(await events())).toEqual([]);
    });

    it('the CA back: the next attempt renews, resets the attempts and announces the renewal', async () => {
      await proxy.setFault({ kind: 'pass' });
      await advancePastNextAttempt();
      const result = await tick(`${label}, CA back`);
      expect(result.scheduled.enqueued).toEqual([NAME]);
      expect(result.issuer.batchItemFailures).toEqual([]);

      const s = await state();
      expect(s).toMatchObject({ status: 'valid', attempts: 0 });
      expect(s.lastError).toBeUndefined();
      expect(s.nextAttemptAt).toBeUndefined();
      expect(s.current!.serial).not.toBe(serialBefore);
      expect(await manifestSerial()).toBe(s.current!.serial);
      const published = await events();
      expect(failures(published)).toEqual([]);
      expect(published.filter((e) => e.type === 'certificate.renewed')).toMatchObject([
        { serial: s.current!.serial, status: 'valid' },
      ]);
    });
  });
}

/** Backoff after a failure without Retry-After: 1 min, then 2 min, each ±20% jitter. */
function backoff(s: CertificateState, attempt: 1 | 2): void {
  const step = attempt === 1 ? 60 : 120;
  const waited = secondsBetween(s.lastError!.at, s.nextAttemptAt!);
  expect(waited).toBeGreaterThanOrEqual(step * 0.8);
  expect(waited).toBeLessThanOrEqual(step * 1.2);
}

describe('first issuance through the proxy, which passes everything', () => {
  it('issues the certificate and announces it', async () => {
    clock.set(Date.now());
    const result = await tick('pass, first issuance');
    expect(result.issuer.batchItemFailures).toEqual([]);
    const s = await state();
    expect(s.lastError).toBeUndefined();
    expect(s).toMatchObject({ status: 'valid', attempts: 0 });
    expect(await manifestSerial()).toBe(s.current!.serial);
    expect((await events()).map((e) => e.type)).toEqual(['certificate.issued']);
    expect(proxy.requests).toContainEqual(expect.stringMatching(/^POST \/order-plz 201$/));
  });
});

faultScenario({
  label: '429 rateLimited on newOrder, Retry-After: 3600',
  fault: { kind: 'rateLimited', retryAfterSeconds: 3600, match: /new-order|order-plz/ },
  code: 'retry-later',
  type: `${PROBLEM}rateLimited`,
  seen: /^POST \/order-plz 429$/,
  // A changed key type makes the certificate due at once (reissue); the handlers' clock
  // starts on the wall clock, which the transport dates Retry-After by (see below).
  makeDue: async () => {
    await declareCertificate(inventory, {
      name: NAME,
      identifiers: [DOMAIN],
      profile: 'classic',
      keyType: 'ecdsa-p384',
    });
    clock.set(Date.now());
  },
  checkNextAttempt: (s, attempt) => {
    // The CA's Retry-After, never slept through: an hour after the attempt on the handlers'
    // clock (the engine adds the stated delay to its own now), within a minute.
    expect(Math.abs(secondsBetween(s.lastError!.at, s.nextAttemptAt!) - 3600)).toBeLessThan(60);
    if (attempt === 1)
      expect(Math.abs(Date.parse(s.nextAttemptAt!) - (Date.now() + HOUR))).toBeLessThan(MINUTE);
  },
});

faultScenario({
  label: 'CA down (connection refused)',
  fault: { kind: 'down' },
  code: 'unreachable',
  type: undefined,
  seen: undefined,
  makeDue: advanceToRenewalTime,
  checkNextAttempt: backoff,
});

faultScenario({
  label: '500 serverInternal on every ACME path',
  fault: { kind: 'status', status: 500 },
  code: 'acme-problem',
  type: `${PROBLEM}serverInternal`,
  seen: /^POST \/order-plz 500$/,
  makeDue: advanceToRenewalTime,
  checkNextAttempt: backoff,
});

/**
 * The renewal sequence under repeated failures, on the file adapters with a CA that fails
 * on demand (faults no peer produces twelve times in a row within a test).
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeEach, describe, expect, it } from 'vitest';
import type { AcmeDirectoryInfo, CertificateAuthority } from '../../shared/acme/ca.js';
import type { ChallengeSolver } from '../../shared/challenges/solver.js';
import { declareCertificate } from '../../shared/usecases/declare-certificates.js';
import { MemoryPublisher } from '../../shared/events/publisher.js';
import { FileInventory } from '../../shared/inventory/file.js';
import { FileLeaseLock } from '../../shared/lock/file.js';
import { HOUR, ManualClock, MINUTE } from '../../shared/model/clock.js';
import { AcmeProblemError, RetryLaterError, UnreachableError } from '../../shared/model/errors.js';
import { silentLog } from '../../shared/model/log.js';
import { renewCertificate, type RenewDeps } from '../../shared/usecases/renew-certificate.js';
import { FAILING_AFTER } from '../../shared/renewal/backoff.js';
import { FsCertificateStore, FsObjectStore } from '../../shared/store/fs-store.js';
import { ObjectPendingKeys } from '../../shared/store/pending-keys.js';

const directory: AcmeDirectoryInfo = {
  url: 'https://ca.test/dir',
  newNonce: 'n',
  newAccount: 'a',
  newOrder: 'o',
  revokeCert: undefined,
  keyChange: undefined,
  renewalInfo: undefined,
  profiles: {},
  termsOfService: undefined,
  website: undefined,
  caaIdentities: [],
  externalAccountRequired: false,
};

let clock: ManualClock;
let events: MemoryPublisher;
let deps: RenewDeps;
let inventory: FileInventory;
let failWith: Error;
let orders: number;

beforeEach(async () => {
  const dir = mkdtempSync(join(tmpdir(), 'certkeeper-renew-'));
  clock = new ManualClock('2026-11-01T00:00:00Z');
  events = new MemoryPublisher();
  const lock = new FileLeaseLock({ dir: join(dir, 'locks'), clock });
  inventory = new FileInventory({ dir: join(dir, 'inventory'), lock });
  orders = 0;
  failWith = new AcmeProblemError('urn:ietf:params:acme:error:connection', 'Connection refused', 400);
  const ca: CertificateAuthority = {
    directoryUrl: directory.url,
    directory: async () => directory,
    issue: async () => {
      orders++;
      throw failWith;
    },
    getRenewalInfo: async () => {
      throw new Error('no ARI');
    },
    accountUrl: async () => `${directory.url}/acct/1`,
    revoke: async () => undefined,
  };
  const solver: ChallengeSolver = {
    type: 'http-01',
    present: async () => {},
    waitReady: async () => {},
    cleanup: async () => {},
  };
  deps = {
    clock,
    inventory,
    lock,
    store: new FsCertificateStore({ root: join(dir, 'store') }),
    pendingKeys: new ObjectPendingKeys(new FsObjectStore({ root: join(dir, 'store') })),
    authorities: [{ name: 'test-ca', ca, settings: { name: 'test-ca', directoryUrl: ca.directoryUrl } }],
    solverFor: () => solver,
    events,
    log: silentLog,
    random: () => 0.5,
  };
  await declareCertificate(inventory, { name: 'web-1', identifiers: ['203.0.113.10'] }, clock);
});

/** Advances the clock to the next attempt and runs one pass, as the scheduler would. */
async function nextAttempt() {
  const state = (await inventory.get('web-1'))!.state;
  if (state.nextAttemptAt) clock.set(state.nextAttemptAt);
  return renewCertificate(deps, 'web-1');
}

describe('repeated failures', () => {
  it('back off, announce only changes, turn failing after 12 and keep trying', async () => {
    const times: number[] = [];
    for (let i = 1; i <= FAILING_AFTER + 1; i++) {
      const outcome = await nextAttempt();
      const attemptedAt = clock.now().getTime();
      expect(outcome.status).toBe('failed');
      const state = (await inventory.get('web-1'))!.state;
      times.push(new Date(state.nextAttemptAt!).getTime() - attemptedAt);
      expect(state.attempts).toBe(i);
      expect(state.status).toBe(i >= FAILING_AFTER ? 'failing' : 'pending');
      expect(state.lastError).toMatchObject({
        code: 'acme-problem',
        type: 'urn:ietf:params:acme:error:connection',
      });
      expect(state.dueAt).toBe(state.nextAttemptAt);
    }
    expect(orders).toBe(FAILING_AFTER + 1);
    expect(times.slice(0, 9)).toEqual([1, 2, 5, 10, 30, 60, 120, 240, 360].map((m) => m * MINUTE));
    // One event for the first failure, one for turning failing; none for identical retries.
    expect(events.events.map((e) => [e.type, e.attempt, e.status])).toEqual([
      ['certificate.renewal_failed', 1, 'pending'],
      ['certificate.renewal_failed', FAILING_AFTER, 'failing'],
    ]);
    expect(events.events[0]?.error).toEqual({
      type: 'urn:ietf:params:acme:error:connection',
      detail: 'ACME connection: Connection refused',
    });
  });

  it('announce a failure whose kind changed', async () => {
    await nextAttempt();
    await nextAttempt();
    failWith = new UnreachableError('https://ca.test/dir is unreachable', 'check the network');
    await nextAttempt();
    expect(events.events.map((e) => e.attempt)).toEqual([1, 3]);
  });

  it('honour a long Retry-After as the next attempt time, without waiting for it', async () => {
    const retryAt = new Date(clock.now().getTime() + HOUR);
    failWith = new RetryLaterError('rate limited', retryAt, 'urn:ietf:params:acme:error:rateLimited');
    const outcome = await nextAttempt();
    expect(outcome).toMatchObject({ status: 'failed', retryAt: retryAt.toISOString() });
    const state = (await inventory.get('web-1'))!.state;
    expect(state.nextAttemptAt).toBe(retryAt.toISOString());
    // Not due before that time.
    clock.advance(30 * MINUTE);
    expect((await renewCertificate(deps, 'web-1')).status).toBe('not-due');
    expect(orders).toBe(1);
  });

  it('a spec change resets the count and makes it due at once', async () => {
    for (let i = 0; i < 3; i++) await nextAttempt();
    await declareCertificate(
      inventory,
      {
        name: 'web-1',
        identifiers: ['203.0.113.10'],
        keyType: 'ecdsa-p384',
      },
      clock,
    );
    const state = (await inventory.get('web-1'))!.state;
    expect(state).toMatchObject({ attempts: 0, dueAt: clock.now().toISOString() });
    expect(state.nextAttemptAt).toBeUndefined();
    expect((await renewCertificate(deps, 'web-1')).status).toBe('failed');
    expect((await inventory.get('web-1'))!.state.attempts).toBe(1);
  });
});

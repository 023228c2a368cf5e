/**
 * The LeaseLock contract: what the renewal (usecases/renew-certificate.ts) relies on, run against every adapter. A new
 * adapter passes by adding one entry to ADAPTERS. Adapter-only behaviour (the file lock's
 * guard files, DynamoDB's TTL attribute) stays in that adapter's own test file.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DeleteTableCommand } from '@aws-sdk/client-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTable } from '../../shared/dynamo/table.js';
import { DynamoLeaseLock } from '../../shared/lock/dynamodb.js';
import { FileLeaseLock } from '../../shared/lock/file.js';
import type { LeaseLock } from '../../shared/lock/lock.js';
import { type Clock, ManualClock, SECOND } from '../../shared/model/clock.js';
import { ConflictError, ValidationError } from '../../shared/model/errors.js';
import { dynamodbClient, uniqueName } from '../../scripts/test-kit/peers.js';

const TTL = 30 * SECOND;

interface LockAdapter {
  name: string;
  /** Creates what the workers share (a directory, a table); returns its disposal. */
  setUp(): Promise<() => Promise<void>>;
  /** One simulated worker: its own instance (and client), sharing only the backing store and the clock. */
  worker(clock: Clock): LeaseLock;
}

let dir = '';
const table = uniqueName('lock-contract');

const ADAPTERS: LockAdapter[] = [
  {
    name: 'FileLeaseLock',
    async setUp() {
      dir = await mkdtemp(join(tmpdir(), 'certkeeper-lock-contract-'));
      return () => rm(dir, { recursive: true, force: true });
    },
    worker: (clock) => new FileLeaseLock({ dir, clock }),
  },
  {
    name: 'DynamoLeaseLock (DynamoDB Local)',
    async setUp() {
      const admin = dynamodbClient();
      await createTable(admin, table);
      return async () => {
        await admin.send(new DeleteTableCommand({ TableName: table }));
        admin.destroy();
      };
    },
    worker: (clock) => new DynamoLeaseLock({ client: dynamodbClient(), tableName: table, clock }),
  },
];

describe.each(ADAPTERS)('LeaseLock contract: $name', (adapter) => {
  let dispose: () => Promise<void>;
  beforeAll(async () => {
    dispose = await adapter.setUp();
  });
  afterAll(() => dispose());
  const startClock = () => new ManualClock('2026-03-01T00:00:00Z');
  const worker = (clock: Clock) => adapter.worker(clock);

  it('gives the lease to exactly one of eight concurrent acquirers; the others are busy', async () => {
    const clock = startClock();
    const results = await Promise.all(Array.from({ length: 8 }, () => worker(clock).acquire('race', TTL)));
    const leases = results.filter((r) => r !== undefined);
    expect(leases).toHaveLength(1);
    expect(results.filter((r) => r === undefined)).toHaveLength(7);
    expect(leases[0]!.expiresAt).toEqual(new Date(clock.now().getTime() + TTL));
  });

  it("keeps a crashed holder's lease until it expires, then hands it over with a larger token", async () => {
    const clock = startClock();
    const crashed = (await worker(clock).acquire('crash', TTL))!;
    clock.advance(TTL);
    expect(await worker(clock).acquire('crash', TTL)).toBeUndefined();
    clock.advance(1);
    const next = await worker(clock).acquire('crash', TTL);
    expect(next?.fencingToken).toBeGreaterThan(crashed.fencingToken);
  });

  it("refuses the old holder's renew after a takeover, and its release leaves the new lease alone", async () => {
    const clock = startClock();
    const old = (await worker(clock).acquire('late', TTL))!;
    clock.advance(TTL + 1);
    const current = (await worker(clock).acquire('late', TTL))!;
    const lost = await worker(clock)
      .renew(old, TTL)
      .catch((e: unknown) => e);
    expect(lost).toBeInstanceOf(ConflictError);
    expect((lost as Error).message).toMatch(/lease for late was lost/);
    await worker(clock).release(old);
    expect(await worker(clock).acquire('late', TTL)).toBeUndefined();
    await expect(worker(clock).renew(current, TTL)).resolves.toMatchObject({ owner: current.owner });
  });

  it('extends the lease when the owner renews it', async () => {
    const clock = startClock();
    const lease = (await worker(clock).acquire('renew', TTL))!;
    clock.advance(TTL - SECOND);
    const renewed = await worker(clock).renew(lease, TTL);
    expect(renewed).toEqual({ ...lease, expiresAt: new Date(clock.now().getTime() + TTL) });
    clock.advance(TTL - SECOND); // past the first expiry, within the renewed one
    expect(await worker(clock).acquire('renew', TTL)).toBeUndefined();
  });

  it('frees the lease on release and keeps the fence counter, so the next token is larger', async () => {
    const clock = startClock();
    const first = (await worker(clock).acquire('release', TTL))!;
    await worker(clock).release(first);
    const second = await worker(clock).acquire('release', TTL);
    expect(second?.fencingToken).toBe(first.fencingToken + 1);
  });

  it('keeps leases of different certificates apart', async () => {
    const clock = startClock();
    const a = await worker(clock).acquire('apart-a', TTL);
    const b = await worker(clock).acquire('apart-b', TTL);
    expect(a).toBeDefined();
    expect(b).toBeDefined();
    expect(await worker(clock).acquire('apart-a', TTL)).toBeUndefined();
  });

  it('refuses a duration that could not protect anything', async () => {
    await expect(worker(startClock()).acquire('zero', 0)).rejects.toBeInstanceOf(ValidationError);
  });
});

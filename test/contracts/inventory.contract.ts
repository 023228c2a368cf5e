/**
 * What every Inventory adapter promises the scheduler (listDue, with the heartbeat kept
 * apart in the same storage) and the operator (update: declarations of new and changed
 * certificates through usecases/declare-certificates.ts, and concurrent changes that are
 * never lost). One suite, run against each adapter by inventory.test.ts beside it, so the
 * adapters cannot drift apart.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Heartbeat } from '../../shared/heartbeat/heartbeat.js';
import { amendState, type Inventory } from '../../shared/inventory/inventory.js';
import type { LeaseLock } from '../../shared/lock/lock.js';
import { DAY, HOUR, type ManualClock, MINUTE, SECOND } from '../../shared/model/clock.js';
import { ConflictError } from '../../shared/model/errors.js';
import { type CertificateSpecInput, parseCertificateSpec } from '../../shared/model/spec.js';
import { type CertificateState, initialState } from '../../shared/model/state.js';
import { declareSpec } from '../../shared/usecases/declare-certificates.js';

export interface DueFixture {
  inventory: Inventory;
  /** The heartbeat adapter that shares the inventory's storage. */
  heartbeat: Heartbeat;
  lock: LeaseLock;
  /** Starts at T0 (2026-03-01T00:00:00Z). */
  clock: ManualClock;
  dispose(): Promise<void>;
}

export const T0 = new Date('2026-03-01T00:00:00Z');
const TTL = 30 * SECOND;

const at = (offsetMs: number): Date => new Date(T0.getTime() + offsetMs);
const iso = (offsetMs: number): string => at(offsetMs).toISOString();
export const spec = (name: string, extra: Partial<CertificateSpecInput> = {}) =>
  parseCertificateSpec({ name, identifiers: [`${name}.example.com`], ...extra });

/** A certificate in place that keeps failing to renew: what a spec change resets. */
export const failingState = (dueAt: string): CertificateState => ({
  status: 'failing',
  current: {
    serial: '01ab',
    notBefore: iso(-5 * DAY),
    notAfter: iso(DAY),
    manifestKey: 'certificates/web/current.json',
  },
  attempts: 3,
  lastError: { code: 'acme-problem', detail: 'DNS problem: NXDOMAIN', at: iso(-HOUR) },
  nextAttemptAt: dueAt,
  dueAt,
  updatedAt: iso(-HOUR),
});

/** Declares `name` and writes `state` for it, as a renewal would. */
export async function declareWithState(
  f: Pick<DueFixture, 'inventory' | 'lock' | 'clock'>,
  name: string,
  state: Partial<CertificateState>,
  declared = spec(name),
): Promise<void> {
  await declareSpec(f.inventory, declared, f.clock);
  const lease = (await f.lock.acquire(name, TTL))!;
  await f.inventory.putState(name, { status: 'valid', attempts: 0, updatedAt: iso(0), ...state }, lease);
  await f.lock.release(lease);
}

const dueNames = async (inventory: Inventory, now: Date, limit?: number) =>
  (await inventory.listDue(now, limit)).records.map((r) => r.spec.name);

export function describeDueInventory(adapter: string, fixture: () => Promise<DueFixture>): void {
  describe(`${adapter}: due certificates, declarations, heartbeat`, () => {
    let f: DueFixture;
    beforeEach(async () => {
      f = await fixture();
    });
    afterEach(() => f.dispose());

    it('lists exactly the certificates due, earliest first, up to the limit', async () => {
      await declareWithState(f, 'late', { dueAt: iso(-2 * HOUR) });
      await declareWithState(f, 'now', { dueAt: iso(0) });
      await declareWithState(f, 'early', { dueAt: iso(-DAY) });
      // Another offset for one hour before T0: compared as a time, not as text.
      await declareWithState(f, 'offset', { dueAt: '2026-03-01T01:00:00+02:00' });
      await declareWithState(f, 'later', { dueAt: iso(1) });
      await declareWithState(f, 'future', { dueAt: iso(30 * DAY) });
      await declareWithState(f, 'retired', { status: 'retired' });
      await f.heartbeat.record(T0, { checked: 0, enqueued: 0 });

      const due = await f.inventory.listDue(T0);
      expect(due.records.map((r) => r.spec.name)).toEqual(['early', 'late', 'offset', 'now']);
      expect(due.records[0]).toEqual(await f.inventory.get('early'));
      expect(await dueNames(f.inventory, T0, 2)).toEqual(['early', 'late']);
      expect(await dueNames(f.inventory, at(365 * DAY))).toEqual([
        'early',
        'late',
        'offset',
        'now',
        'later',
        'future',
      ]);

      // Retiring a due certificate takes it out of the index.
      await declareWithState(f, 'late', { status: 'retired' });
      expect(await dueNames(f.inventory, T0)).toEqual(['early', 'offset', 'now']);
    });

    it('makes a newly declared certificate due at once', async () => {
      await declareSpec(f.inventory, spec('fresh'), f.clock);
      expect(await f.inventory.get('fresh')).toEqual({ spec: spec('fresh'), state: initialState(T0) });
      expect(await dueNames(f.inventory, at(-1))).toEqual([]);
      expect(await dueNames(f.inventory, T0)).toEqual(['fresh']);
    });

    it('changes nothing when the same spec is declared again', async () => {
      const declared = spec('web', { identifiers: ['web.example.com', 'www.example.com'] });
      await declareWithState(f, 'web', failingState(iso(HOUR)), declared);
      const before = await f.inventory.get('web');
      f.clock.advance(10 * MINUTE);
      await declareSpec(
        f.inventory,
        spec('web', { identifiers: ['www.example.com', 'web.example.com'] }),
        f.clock,
      );
      expect(await f.inventory.get('web')).toEqual(before);
      expect(await dueNames(f.inventory, f.clock.now())).toEqual([]);
    });

    it('resets failures and asks for a reissue when the names change, due at once', async () => {
      await declareWithState(f, 'web', failingState(iso(HOUR)));
      f.clock.advance(10 * MINUTE);
      const changed = spec('web', { identifiers: ['web.example.com', 'www.example.com'] });
      await declareSpec(f.inventory, changed, f.clock);

      const now = f.clock.now().toISOString();
      const { lastError, current } = failingState(iso(HOUR));
      expect(await f.inventory.get('web')).toEqual({
        spec: changed,
        state: {
          status: 'valid',
          current,
          lastError,
          attempts: 0,
          reissue: true,
          dueAt: now,
          updatedAt: now,
        },
      });
      expect(await dueNames(f.inventory, f.clock.now())).toEqual(['web']);
    });

    it('resets failures without a reissue when only the renewal policy changes', async () => {
      await declareWithState(f, 'web', failingState(iso(HOUR)));
      const { current: _none, ...neverIssued } = failingState(iso(HOUR));
      await declareWithState(f, 'new', neverIssued);
      f.clock.advance(10 * MINUTE);
      await declareSpec(f.inventory, spec('web', { renewBefore: '72h' }), f.clock);
      f.clock.advance(MINUTE);
      await declareSpec(
        f.inventory,
        spec('new', { identifiers: ['new.example.com', 'www.example.com'] }),
        f.clock,
      );

      const web = (await f.inventory.get('web'))?.state;
      expect(web).toMatchObject({ status: 'valid', attempts: 0, reissue: false, dueAt: iso(10 * MINUTE) });
      expect(web?.nextAttemptAt).toBeUndefined();
      // Nothing issued yet: nothing to reissue, it is simply pending again.
      const fresh = (await f.inventory.get('new'))?.state;
      expect(fresh).toMatchObject({ status: 'pending', attempts: 0, dueAt: iso(11 * MINUTE) });
      expect(fresh?.reissue).toBeUndefined();
      expect(await dueNames(f.inventory, f.clock.now())).toEqual(['web', 'new']);
    });

    it('applies concurrent changes one after another, losing none', async () => {
      await declareWithState(f, 'counter', { attempts: 0 });
      const increment = () =>
        amendState(f.inventory, 'counter', ({ state }) => ({ ...state, attempts: state.attempts + 1 }));
      await Promise.all([increment(), increment(), increment()]);
      expect((await f.inventory.get('counter'))?.state.attempts).toBe(3);
    });

    it('writes only what the change returns, and says what it wrote', async () => {
      expect(await f.inventory.update('absent', () => undefined)).toBeUndefined();
      expect(await f.inventory.get('absent')).toBeUndefined();
      const made = { spec: spec('made'), state: initialState(T0) };
      const createOnce = (stored: unknown) => (stored ? undefined : made);
      expect(await f.inventory.update('made', createOnce)).toEqual(made);
      expect(await f.inventory.update('made', createOnce)).toBeUndefined();
      expect(await f.inventory.get('made')).toEqual(made);
      await expect(
        f.inventory.update('made', () => ({ spec: spec('other'), state: initialState(T0) })),
      ).rejects.toThrow(/spec\.name: is "other" in an update of "made"/);
      expect(await f.inventory.get('made')).toEqual(made);
    });

    it("takes a write that follows the lease's own, and refuses it once another lease has written", async () => {
      await declareSpec(f.inventory, spec('follow'), f.clock);
      const first = (await f.lock.acquire('follow', TTL))!;
      const written = { status: 'valid' as const, attempts: 0, updatedAt: iso(0) };
      await f.inventory.putState('follow', written, first);
      await f.inventory.putState('follow', { ...written, attempts: 1 }, first, { followsOwnWrite: true });
      expect((await f.inventory.get('follow'))?.state.attempts).toBe(1);

      // The lease expires; another worker takes over and writes; the first one's follow-up is refused.
      f.clock.advance(TTL + SECOND);
      const second = (await f.lock.acquire('follow', TTL))!;
      await f.inventory.putState('follow', { ...written, attempts: 7 }, second);
      await expect(
        f.inventory.putState('follow', { ...written, attempts: 2 }, first, { followsOwnWrite: true }),
      ).rejects.toThrow(ConflictError);
      expect((await f.inventory.get('follow'))?.state.attempts).toBe(7);
    });

    it("refuses an older lease's writes once a newer one has claimed the certificate", async () => {
      await declareSpec(f.inventory, spec('claim'), f.clock);
      const first = (await f.lock.acquire('claim', TTL))!;
      const written = { status: 'valid' as const, attempts: 3, updatedAt: iso(0) };
      await f.inventory.putState('claim', written, first);

      f.clock.advance(TTL + SECOND);
      const second = (await f.lock.acquire('claim', TTL))!;
      // The claim is the re-read under the new lease: it returns what the first one wrote.
      expect((await f.inventory.claim('claim', second))?.state).toEqual(written);
      await expect(f.inventory.putState('claim', { ...written, attempts: 4 }, first)).rejects.toThrow(
        ConflictError,
      );
      await expect(f.inventory.claim('claim', first)).rejects.toThrow(ConflictError);
      await f.inventory.putState('claim', { ...written, attempts: 0 }, second);
      expect((await f.inventory.get('claim'))?.state.attempts).toBe(0);
      expect(await f.inventory.claim('nothing', (await f.lock.acquire('nothing', TTL))!)).toBeUndefined();
    });

    // The heartbeat's own contract is heartbeat.test.ts; here, that it shares the storage harmlessly.
    it('keeps the scheduler heartbeat apart from the certificates', async () => {
      await f.heartbeat.record(T0, { checked: 120, enqueued: 3 });

      await declareSpec(f.inventory, spec('web'), f.clock);
      expect((await f.inventory.list()).map((r) => r.spec.name)).toEqual(['web']);
      expect(await dueNames(f.inventory, at(DAY))).toEqual(['web']);
    });
  });
}

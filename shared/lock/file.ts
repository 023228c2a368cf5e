import { randomUUID } from 'node:crypto';
import { resolve } from 'node:path';
import * as z from 'zod';
import { type Clock, systemClock } from '../model/clock.js';
import { FsObjectStore } from '../store/fs-store.js';
import { FileGuard } from './file-guard.js';
import { checkLeaseRequest, checkName, leaseLost } from './lease.js';
import type { Lease, LeaseLock } from './lock.js';
import { parseStoredJson } from './stored.js';

export interface FileLeaseLockOptions {
  /** Directory for the lock files; created on first use. Not shared with the inventory. */
  dir: string;
  clock?: Clock;
}

const leaseFile = z.object({
  owner: z.string().min(1),
  fence: z.number().int(),
  expiresAt: z.iso.datetime(),
});
const fenceFile = z.object({ fence: z.number().int() });

/**
 * LeaseLock on local files, for local mode without AWS, with the semantics of the DynamoDB
 * lock (see dynamodb.ts for why fencing matters):
 * - `<name>.lock`: owner, fencing token and expiry while held; created only when absent
 *   (O_EXCL semantics), replaced only once expired, deleted on release;
 * - `<name>.fence`: the counter, never deleted, so tokens keep growing across holders;
 *   should it be lost, it restarts from the clock in ms, beyond any earlier token.
 * Every step runs under the name's FileGuard, which also lets FileInventory make its
 * fenced write atomic with the lease check (`whileHeld`).
 */
export class FileLeaseLock implements LeaseLock {
  private readonly store: FsObjectStore;
  private readonly guard: FileGuard;
  private readonly clock: Clock;
  private readonly dir: string;

  constructor(options: FileLeaseLockOptions) {
    this.dir = resolve(options.dir);
    this.store = new FsObjectStore({ root: this.dir });
    this.guard = new FileGuard(this.store, this.dir);
    this.clock = options.clock ?? systemClock;
  }

  async acquire(name: string, ttlMs: number): Promise<Lease | undefined> {
    checkLeaseRequest(name, ttlMs);
    return this.guard.run(name, async () => {
      const now = this.clock.now().getTime();
      const held = await this.current(name);
      if (held && held.expiresAt.getTime() >= now) return undefined;
      const counter = (await this.fence(name)) ?? now;
      const lease: Lease = {
        name,
        owner: randomUUID(),
        fencingToken: Math.max(counter, held?.fencingToken ?? 0) + 1,
        expiresAt: new Date(now + ttlMs),
      };
      // Counter first: a crash between the two writes skips a token, never reuses one.
      await this.store.put(`${name}.fence`, JSON.stringify({ fence: lease.fencingToken }));
      await this.write(lease, { ifAbsent: !held });
      return lease;
    });
  }

  async renew(lease: Lease, ttlMs: number): Promise<Lease> {
    checkLeaseRequest(lease.name, ttlMs);
    return this.whileHeld(lease, 'renewing it', async () => {
      const renewed = { ...lease, expiresAt: new Date(this.clock.now().getTime() + ttlMs) };
      await this.write(renewed, { ifAbsent: false });
      return renewed;
    });
  }

  async release(lease: Lease): Promise<void> {
    checkName(lease.name);
    await this.guard.run(lease.name, async () => {
      // Someone else's lease now (or released already): theirs to release.
      if (isSame(await this.current(lease.name), lease)) await this.store.delete(`${lease.name}.lock`);
    });
  }

  /**
   * Runs `step` while `lease` is still the current one and no other step for the name can
   * run; throws ConflictError (naming `refused`) when the lease was lost.
   */
  async whileHeld<T>(lease: Lease, refused: string, step: () => Promise<T>): Promise<T> {
    checkName(lease.name);
    return this.guard.run(lease.name, async () => {
      if (!isSame(await this.current(lease.name), lease)) throw leaseLost(lease, refused);
      return step();
    });
  }

  /** Runs `step` with no other step for the name running (unfenced inventory writes). */
  async exclusive<T>(name: string, step: () => Promise<T>): Promise<T> {
    checkName(name);
    return this.guard.run(name, step);
  }

  private async current(name: string): Promise<Lease | undefined> {
    const text = await this.store.get(`${name}.lock`);
    if (text === undefined) return undefined;
    const stored = parseStoredJson(leaseFile, text, this.at(`${name}.lock`));
    return { name, owner: stored.owner, fencingToken: stored.fence, expiresAt: new Date(stored.expiresAt) };
  }

  private async fence(name: string): Promise<number | undefined> {
    const text = await this.store.get(`${name}.fence`);
    return text === undefined ? undefined : parseStoredJson(fenceFile, text, this.at(`${name}.fence`)).fence;
  }

  private write(lease: Lease, options: { ifAbsent: boolean }): Promise<void> {
    const body = { owner: lease.owner, fence: lease.fencingToken, expiresAt: lease.expiresAt.toISOString() };
    // Not fsynced: a power cut that loses it also ended every process that could hold it (the
    // lock is this machine's). The fence, which must never go back, is fsynced.
    return this.store.put(`${lease.name}.lock`, JSON.stringify(body), { ...options, durable: false });
  }

  private at(key: string) {
    const where = resolve(this.dir, key);
    return { where, fix: `delete ${where}; the lock recreates it` };
  }
}

const isSame = (held: Lease | undefined, lease: Lease): boolean =>
  held !== undefined && held.owner === lease.owner && held.fencingToken === lease.fencingToken;

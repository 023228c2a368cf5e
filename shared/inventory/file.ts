import { resolve } from 'node:path';
import * as z from 'zod';
import type { FileLeaseLock } from '../lock/file.js';
import { checkName } from '../lock/lease.js';
import type { Lease } from '../lock/lock.js';
import { parseStoredJson } from '../lock/stored.js';
import { type Clock, systemClock } from '../model/clock.js';
import { type CertificateSpec, NAME_PATTERN } from '../model/spec.js';
import { type CertificateState, initialState, type InventoryRecord } from '../model/state.js';
import { sameSpec, stateAfterSpecChange } from '../renewal/spec-change.js';
import { FsObjectStore } from '../store/fs-store.js';
import type { DueRecords, Inventory, SchedulerTick } from './inventory.js';
import { certificateGone, newerFence } from './refusals.js';
import { storedSpecFor, storedState, toStoredSpec, toStoredState } from './record.js';

export interface FileInventoryOptions {
  /** Directory of `<name>.json` files, one per certificate; created on first write. */
  dir: string;
  /** The lock whose leases fence putState; its directory must differ from `dir`. */
  lock: FileLeaseLock;
  clock?: Clock;
}

const RECORD_FILE = /^(.+)\.json$/;
/** The heartbeat; no certificate name starts with "_", so it cannot clash with a record. */
const TICK_FILE = '_scheduler.json';
const tickFile = z.object({
  at: z.iso.datetime({ offset: true }),
  checked: z.number().int(),
  enqueued: z.number().int(),
});

interface StoredRecord extends InventoryRecord {
  /** Fencing token of the last state write, as on the DynamoDB item. */
  fence?: number;
}

/**
 * Inventory as one JSON file per certificate, for local mode without AWS. Each write is
 * atomic (temp file, fsync, rename) and runs under the lock's per-name guard, so a spec
 * change, a removal and a fenced state write never interleave their read and write.
 */
export class FileInventory implements Inventory {
  private readonly dir: string;
  private readonly store: FsObjectStore;
  private readonly lock: FileLeaseLock;
  private readonly clock: Clock;

  constructor(options: FileInventoryOptions) {
    this.dir = resolve(options.dir);
    this.store = new FsObjectStore({ root: this.dir });
    this.lock = options.lock;
    this.clock = options.clock ?? systemClock;
  }

  async get(name: string): Promise<InventoryRecord | undefined> {
    checkName(name);
    const record = await this.read(name);
    return record && { spec: record.spec, state: record.state };
  }

  /**
   * Every certificate, sorted by name; files that are not records (temp files, guards, the
   * heartbeat) are skipped.
   */
  async list(): Promise<InventoryRecord[]> {
    const names = (await this.store.list(''))
      .map(({ key }) => RECORD_FILE.exec(key)?.[1])
      .filter((name): name is string => name !== undefined && NAME_PATTERN.test(name))
      .sort();
    const records = await Promise.all(names.map((name) => this.get(name)));
    // A file removed between the listing and the read is simply gone.
    return records.filter((r): r is InventoryRecord => r !== undefined);
  }

  /** The read, the comparison and the write run under the name's guard, as one step. */
  async putSpec(spec: CertificateSpec): Promise<void> {
    const stored = toStoredSpec(spec);
    return this.lock.exclusive(spec.name, async () => {
      const existing = await this.read(spec.name);
      if (existing && sameSpec(existing.spec, stored)) return;
      const now = this.clock.now();
      const state = existing
        ? stateAfterSpecChange(existing.state, existing.spec, stored, now)
        : initialState(now);
      await this.write({ ...existing, spec: stored, state: toStoredState(state) });
    });
  }

  async amendState(
    name: string,
    amend: (record: InventoryRecord) => CertificateState | undefined,
  ): Promise<CertificateState | undefined> {
    return this.lock.exclusive(name, async () => {
      const existing = await this.read(name);
      const state = existing && amend({ spec: existing.spec, state: existing.state });
      if (!existing || !state) return undefined;
      await this.write({ ...existing, state: toStoredState(state) });
      return state;
    });
  }

  /** Fenced like DynamoInventory.putState: the lease check and the write happen under one guard. */
  async putState(name: string, state: CertificateState, lease: Lease): Promise<void> {
    const stored = toStoredState(state);
    return this.lock.whileHeld(lease, `writing the state of ${name}`, async () => {
      const existing = await this.read(name);
      if (!existing) throw certificateGone(name);
      if (existing.fence !== undefined && existing.fence > lease.fencingToken) {
        throw newerFence(name, existing.fence, lease.fencingToken);
      }
      await this.write({ spec: existing.spec, state: stored, fence: lease.fencingToken });
    });
  }

  async remove(name: string): Promise<void> {
    return this.lock.exclusive(name, () => this.store.delete(`${name}.json`));
  }

  /**
   * Reads every record and keeps those due: a local inventory is small, and there is no
   * index to keep in step with the state (its own `dueAt` is the key).
   */
  async listDue(now: Date, limit?: number): Promise<DueRecords> {
    const all = await this.list();
    // Compared as times: a stored dueAt may carry any offset. Retired ones have none.
    const due = all.flatMap((record) => {
      const at = record.state.dueAt === undefined ? undefined : Date.parse(record.state.dueAt);
      return at !== undefined && at <= now.getTime() ? [{ record, at }] : [];
    });
    const records = due
      .sort((a, b) => a.at - b.at)
      .slice(0, limit)
      .map((d) => d.record);
    return { records, itemsRead: all.length };
  }

  async recordTick(at: Date, summary: { checked: number; enqueued: number }): Promise<void> {
    const tick: SchedulerTick = {
      at: at.toISOString(),
      checked: summary.checked,
      enqueued: summary.enqueued,
    };
    await this.store.put(TICK_FILE, `${JSON.stringify(tick, null, 2)}\n`);
  }

  async lastTick(): Promise<SchedulerTick | undefined> {
    const text = await this.store.get(TICK_FILE);
    if (text === undefined) return undefined;
    const where = resolve(this.dir, TICK_FILE);
    return parseStoredJson(tickFile, text, { where, fix: `delete ${where}; the next tick writes it again` });
  }

  private async read(name: string): Promise<StoredRecord | undefined> {
    const text = await this.store.get(`${name}.json`);
    if (text === undefined) return undefined;
    const schema = z.object({
      spec: storedSpecFor(name),
      state: storedState,
      fence: z.number().int().optional(),
    });
    return parseStoredJson(schema, text, { where: resolve(this.dir, `${name}.json`) });
  }

  private write(record: StoredRecord): Promise<void> {
    return this.store.put(`${record.spec.name}.json`, `${JSON.stringify(record, null, 2)}\n`);
  }
}

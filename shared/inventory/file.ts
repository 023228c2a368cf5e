import { resolve } from 'node:path';
import { z } from 'zod';
import type { FileLeaseLock } from '../lock/file.js';
import { checkName } from '../lock/lease.js';
import type { Lease } from '../lock/lock.js';
import { parseStoredJson } from '../lock/stored.js';
import { type Clock, systemClock } from '../model/clock.js';
import type { CertificateSpec } from '../model/spec.js';
import { type CertificateState, initialState, type InventoryRecord } from '../model/state.js';
import { FsObjectStore } from '../store/fs-store.js';
import type { Inventory } from './inventory.js';
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

  /** Every certificate, sorted by name; files that are not records (temp files) are skipped. */
  async list(): Promise<InventoryRecord[]> {
    const names = (await this.store.list(''))
      .map(({ key }) => RECORD_FILE.exec(key)?.[1])
      .filter((name): name is string => name !== undefined)
      .sort();
    const records = await Promise.all(names.map((name) => this.get(name)));
    // A file removed between the listing and the read is simply gone.
    return records.filter((r): r is InventoryRecord => r !== undefined);
  }

  async putSpec(spec: CertificateSpec): Promise<void> {
    const stored = toStoredSpec(spec);
    return this.lock.exclusive(spec.name, async () => {
      const existing = await this.read(spec.name);
      await this.write({
        ...existing,
        spec: stored,
        state: existing?.state ?? initialState(this.clock.now()),
      });
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

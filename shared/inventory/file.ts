import { resolve } from 'node:path';
import * as z from 'zod';
import type { FileLeaseLock } from '../lock/file.js';
import { checkName } from '../lock/lease.js';
import type { Lease } from '../lock/lock.js';
import { parseStoredJson } from '../lock/stored.js';
import { NAME_PATTERN } from '../model/spec.js';
import type { CertificateState, InventoryRecord } from '../model/state.js';
import { FsObjectStore } from '../store/fs-store.js';
import type { DueRecords, Inventory, PutStateOptions } from './inventory.js';
import { certificateGone, checkSameName, newerFence } from './refusals.js';
import { storedSpecFor, storedState, toStoredSpec, toStoredState } from './record.js';

export interface FileInventoryOptions {
  /** Directory of `<name>.json` files, one per certificate; created on first write. */
  dir: string;
  /** The lock whose leases fence putState; its directory must differ from `dir`. */
  lock: FileLeaseLock;
}

const RECORD_FILE = /^(.+)\.json$/;

interface StoredRecord extends InventoryRecord {
  /** Fencing token of the last state write, as on the DynamoDB item. */
  fence?: number;
}

/**
 * The stored record of `name`, its spec checked to name it. Built once per name: a record is
 * read several times per renewal, and building a zod schema costs more than parsing with it.
 */
const recordSchemas = new Map<string, ReturnType<typeof buildRecordSchema>>();
const buildRecordSchema = (name: string) =>
  z.object({ spec: storedSpecFor(name), state: storedState, fence: z.number().int().optional() });
function recordSchemaFor(name: string): ReturnType<typeof buildRecordSchema> {
  let schema = recordSchemas.get(name);
  if (!schema) recordSchemas.set(name, (schema = buildRecordSchema(name)));
  return schema;
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

  constructor(options: FileInventoryOptions) {
    this.dir = resolve(options.dir);
    this.store = new FsObjectStore({ root: this.dir });
    this.lock = options.lock;
  }

  async get(name: string): Promise<InventoryRecord | undefined> {
    checkName(name);
    const record = await this.read(name);
    return record && { spec: record.spec, state: record.state };
  }

  /** Under the lock's guard, like putState: the lease must still be held here. */
  async claim(name: string, lease: Lease): Promise<InventoryRecord | undefined> {
    checkName(name);
    return this.lock.whileHeld(lease, `claiming ${name}`, async () => {
      const existing = await this.read(name);
      if (!existing) return undefined;
      if (existing.fence !== undefined && existing.fence > lease.fencingToken) {
        throw newerFence(name, existing.fence, lease.fencingToken);
      }
      if (existing.fence !== lease.fencingToken) await this.write({ ...existing, fence: lease.fencingToken });
      return { spec: existing.spec, state: existing.state };
    });
  }

  /**
   * Every certificate, sorted by name; files that are not records (temp files, guards, the
   * heartbeat file) are skipped.
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

  /** The read, `change` and the write run under the name's guard, as one step. */
  async update(
    name: string,
    change: (stored: InventoryRecord | undefined) => InventoryRecord | undefined,
  ): Promise<InventoryRecord | undefined> {
    checkName(name);
    return this.lock.exclusive(name, async () => {
      const existing = await this.read(name);
      const next = change(existing && { spec: existing.spec, state: existing.state });
      if (!next) return undefined;
      checkSameName(name, next);
      await this.write({ ...existing, spec: toStoredSpec(next.spec), state: toStoredState(next.state) });
      return next;
    });
  }

  /**
   * Fenced like DynamoInventory.putState: the lease check and the write happen under one
   * guard. A write that follows this lease's own costs the same here, so it is checked the
   * same way.
   */
  async putState(
    name: string,
    state: CertificateState,
    lease: Lease,
    _options?: PutStateOptions,
  ): Promise<void> {
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

  private async read(name: string): Promise<StoredRecord | undefined> {
    const text = await this.store.get(`${name}.json`);
    if (text === undefined) return undefined;
    return parseStoredJson(recordSchemaFor(name), text, { where: resolve(this.dir, `${name}.json`) });
  }

  private write(record: StoredRecord): Promise<void> {
    return this.store.put(`${record.spec.name}.json`, `${JSON.stringify(record, null, 2)}\n`);
  }
}

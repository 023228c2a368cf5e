import { resolve } from 'node:path';
import * as z from 'zod';
import { parseStoredJson } from '../lock/stored.js';
import { FsObjectStore } from '../store/fs-store.js';
import type { Heartbeat, SchedulerTick } from './heartbeat.js';

/**
 * Kept beside the local inventory's records; no certificate name starts with "_", so it
 * cannot clash with one.
 */
const TICK_FILE = '_scheduler.json';
const tickFile = z.object({
  at: z.iso.datetime({ offset: true }),
  checked: z.number().int(),
  enqueued: z.number().int(),
});

/** The heartbeat as one JSON file, for local mode (written atomically by the store). */
export class FileHeartbeat implements Heartbeat {
  private readonly store: FsObjectStore;
  private readonly path: string;

  constructor(options: { dir: string }) {
    this.store = new FsObjectStore({ root: resolve(options.dir) });
    this.path = resolve(options.dir, TICK_FILE);
  }

  async record(at: Date, summary: { checked: number; enqueued: number }): Promise<void> {
    const tick: SchedulerTick = {
      at: at.toISOString(),
      checked: summary.checked,
      enqueued: summary.enqueued,
    };
    await this.store.put(TICK_FILE, `${JSON.stringify(tick, null, 2)}\n`);
  }

  async last(): Promise<SchedulerTick | undefined> {
    const text = await this.store.get(TICK_FILE);
    if (text === undefined) return undefined;
    const fix = `delete ${this.path}; the next tick writes it again`;
    return parseStoredJson(tickFile, text, { where: this.path, fix });
  }
}

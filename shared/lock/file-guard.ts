import { randomUUID } from 'node:crypto';
import { link, readFile, rename, rm } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import * as z from 'zod';
import { CertkeeperError, ConflictError } from '../model/errors.js';
import type { FsObjectStore } from '../store/fs-store.js';
import { parseStoredJson } from './stored.js';

/**
 * A short mutual exclusion per certificate name for the file adapters, held for the few
 * file operations of one lock or inventory step (milliseconds), never for a whole renewal.
 *
 * Files offer no compare-and-swap across two files, and a fenced state write is "check the
 * lease file, then write the certificate file": without the guard a lease could change
 * hands between the check and the write, and a late holder would overwrite the new
 * holder's state. Under the guard every step is a plain read-check-write.
 *
 * `<name>.guard` is created atomically with its content (link of a complete temp file, as
 * O_EXCL would but never half-written). A holder that crashed inside its few milliseconds
 * leaves it behind: it is broken once its process is gone (same host, pid no longer
 * alive). Breaking renames the file aside first, so two breakers cannot both remove it,
 * and puts it back if what was moved turns out to be a newer, live guard.
 */
const holderSchema = z.object({ pid: z.number().int(), host: z.string(), nonce: z.string() });
type Holder = z.infer<typeof holderSchema>;

/** 5-25 ms apart: some 15 s in all, while one step holds the guard for milliseconds. */
const ATTEMPTS = 1000;

export class FileGuard {
  constructor(
    private readonly store: FsObjectStore,
    private readonly dir: string,
  ) {}

  async run<T>(name: string, step: () => Promise<T>): Promise<T> {
    const key = `${name}.guard`;
    const me: Holder = { pid: process.pid, host: hostname(), nonce: randomUUID() };
    await this.take(key, me);
    try {
      return await step();
    } finally {
      const holder = await this.holder(key);
      if (holder?.nonce === me.nonce) await this.store.delete(key);
    }
  }

  private async take(key: string, me: Holder): Promise<void> {
    let holder: Holder | undefined;
    for (let attempt = 0; attempt < ATTEMPTS; attempt++) {
      try {
        // Not fsynced: a guard lives for one step of a running process; after a crash there
        // is nothing to guard, and a guard file left behind is broken by its dead pid.
        await this.store.put(key, JSON.stringify(me), { ifAbsent: true, durable: false });
        return;
      } catch (err) {
        if (!(err instanceof ConflictError)) throw err;
      }
      holder = await this.holder(key);
      if (holder && isGone(holder)) await this.breakStale(key, holder);
      else if (holder) await sleep(5 + Math.random() * 20);
    }
    const path = join(this.dir, key);
    throw new CertkeeperError(
      'conflict',
      `${path} is held by process ${holder?.pid ?? '?'} on ${holder?.host ?? '?'} and was not released`,
      { retryable: true, fix: `if no certkeeper process runs there any more, delete ${path}` },
    );
  }

  private async breakStale(key: string, stale: Holder): Promise<void> {
    const path = join(this.dir, key);
    const aside = `${path}.${randomUUID()}.stale`;
    try {
      await rename(path, aside);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return; // another breaker was first
      throw err;
    }
    try {
      const moved = await this.parse(await readFile(aside, 'utf8'), aside);
      // The stale guard was replaced between our look and the rename: restore the live one.
      // Should a third process have taken the free name meanwhile, link fails and that
      // process keeps it; this needs a crash inside a guarded step plus a three-way race.
      if (moved.nonce !== stale.nonce) await link(aside, path).catch(() => undefined);
    } finally {
      await rm(aside, { force: true });
    }
  }

  private async holder(key: string): Promise<Holder | undefined> {
    const text = await this.store.get(key);
    return text === undefined ? undefined : this.parse(text, join(this.dir, key));
  }

  private parse(text: string, path: string): Holder {
    return parseStoredJson(holderSchema, text, { where: path, fix: `delete ${path}` });
  }
}

/** Only a process on this host can be checked; elsewhere the guard waits for its owner. */
function isGone(holder: Holder): boolean {
  if (holder.host !== hostname()) return false;
  try {
    process.kill(holder.pid, 0);
    return false;
  } catch (err) {
    // EPERM: it exists, under another user.
    return (err as NodeJS.ErrnoException).code === 'ESRCH';
  }
}

import { spawn } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FileLeaseLock } from '../../../shared/lock/file.js';
import { ManualClock, MINUTE, SECOND } from '../../../shared/model/clock.js';
import { IntegrityError, ValidationError } from '../../../shared/model/errors.js';

const TTL = 30 * SECOND;
let dir: string;
let clock: ManualClock;
/** One lock instance per simulated worker: nothing is shared but the directory. */
const worker = () => new FileLeaseLock({ dir, clock });

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'certkeeper-lock-'));
  clock = new ManualClock('2026-03-01T00:00:00Z');
});
afterEach(() => rm(dir, { recursive: true, force: true }));

// What every LeaseLock promises is in test/contracts/lease-lock.test.ts; these are the
// file lock's own: its fence file, its guard, damaged files and several processes.
describe('FileLeaseLock', () => {
  it('frees the lease on release but keeps the counter in its own file', async () => {
    const first = (await worker().acquire('web', TTL))!;
    await worker().release(first);
    expect(await readdir(dir)).toEqual(['web.fence']);
  });

  it('restarts a lost counter from the clock, above every earlier token', async () => {
    const first = (await worker().acquire('web', TTL))!;
    await worker().release(first);
    await rm(join(dir, 'web.fence'));
    clock.advance(MINUTE);
    expect((await worker().acquire('web', TTL))?.fencingToken).toBeGreaterThan(first.fencingToken);
  });

  it('breaks a guard left behind by a process that died', async () => {
    const dead = await deadPid();
    await writeFile(join(dir, 'web.guard'), JSON.stringify({ pid: dead, host: hostname(), nonce: 'x' }));
    expect(await worker().acquire('web', TTL)).toBeDefined();
    expect((await readdir(dir)).sort()).toEqual(['web.fence', 'web.lock']);
  });

  it('reports a damaged lock file as an IntegrityError naming it', async () => {
    await writeFile(join(dir, 'web.lock'), '{"owner": 7}');
    const err = await worker()
      .acquire('web', TTL)
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(IntegrityError);
    expect((err as IntegrityError).message).toContain(join(dir, 'web.lock'));
  });

  it('refuses names that are not certificate names (they become file names)', async () => {
    await expect(worker().acquire('../web', TTL)).rejects.toBeInstanceOf(ValidationError);
  });

  it('gives the lease to exactly one of several processes', async () => {
    const go = Date.now() + 3 * SECOND; // after every child has started
    const outputs = await Promise.all(Array.from({ length: 6 }, () => runWorker(dir, go)));
    const tokens = outputs.map((o) => JSON.parse(o) as number | null);
    expect(tokens.filter((t) => t !== null)).toHaveLength(1);
    const stored = JSON.parse(await readFile(join(dir, 'web.lock'), 'utf8')) as { fence: number };
    expect(tokens).toContain(stored.fence);
  });
});

function deadPid(): Promise<number> {
  const child = spawn(process.execPath, ['-e', '']);
  return new Promise((resolve) => child.on('exit', () => resolve(child.pid!)));
}

function runWorker(lockDir: string, go: number): Promise<string> {
  const script = new URL('../../support/lock-race-worker.ts', import.meta.url).pathname;
  const child = spawn(process.execPath, ['--import', 'tsx', script, lockDir, String(go)]);
  let out = '';
  let err = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  return new Promise((resolve, reject) =>
    child.on('exit', (code) =>
      code === 0 ? resolve(out.trim()) : reject(new Error(`worker failed: ${err}`)),
    ),
  );
}

import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FileInventory } from '../../../shared/inventory/file.js';
import { FileLeaseLock } from '../../../shared/lock/file.js';
import { ManualClock, SECOND } from '../../../shared/model/clock.js';
import {
  ConflictError,
  IntegrityError,
  NotFoundError,
  ValidationError,
} from '../../../shared/model/errors.js';
import { parseCertificateSpec } from '../../../shared/model/spec.js';
import { type CertificateState, initialState } from '../../../shared/model/state.js';
import { declareSpec } from '../../../shared/usecases/declare-certificates.js';
import { FileHeartbeat } from '../../../shared/heartbeat/file.js';

const TTL = 30 * SECOND;
let root: string;
let clock: ManualClock;
let lock: FileLeaseLock;
let inventory: FileInventory;
let heartbeat: FileHeartbeat;

const spec = (name: string, identifiers = [`${name}.example.com`]) =>
  parseCertificateSpec({ name, identifiers });
const state = (status: CertificateState['status'], attempts = 0): CertificateState => ({
  status,
  attempts,
  updatedAt: clock.now().toISOString(),
});

beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), 'certkeeper-inventory-'));
  clock = new ManualClock('2026-03-01T00:00:00Z');
  lock = new FileLeaseLock({ dir: join(root, 'locks'), clock });
  inventory = new FileInventory({ dir: join(root, 'inventory'), lock });
  heartbeat = new FileHeartbeat({ dir: join(root, 'inventory') });
});
afterEach(() => rm(root, { recursive: true, force: true }));

describe('FileInventory', () => {
  it('stores, lists (sorted) and removes certificates, starting them pending', async () => {
    await declareSpec(inventory, spec('web'), clock);
    await declareSpec(inventory, parseCertificateSpec({ name: 'api', identifiers: ['203.0.113.10'] }), clock);
    expect(await inventory.get('web')).toEqual({ spec: spec('web'), state: initialState(clock.now()) });
    expect((await inventory.list()).map((r) => r.spec.name)).toEqual(['api', 'web']);
    expect((await inventory.get('api'))?.spec.profile).toBe('shortlived');

    await inventory.remove('web');
    expect(await inventory.get('web')).toBeUndefined();
    expect((await inventory.list()).map((r) => r.spec.name)).toEqual(['api']);
  });

  it("refuses a late holder's state after a takeover and keeps the new holder's", async () => {
    await declareSpec(inventory, spec('web'), clock);
    const old = (await lock.acquire('web', TTL))!;
    clock.advance(TTL + 1);
    const current = (await lock.acquire('web', TTL))!;
    await inventory.putState('web', state('valid'), current);

    await expect(inventory.putState('web', state('failing', 3), old)).rejects.toThrow(ConflictError);
    await expect(inventory.putState('web', state('failing', 3), old)).rejects.toThrow(
      /lease for web was lost/,
    );
    expect((await inventory.get('web'))?.state.status).toBe('valid');
  });

  it('refuses a state write for a certificate removed meanwhile', async () => {
    await declareSpec(inventory, spec('web'), clock);
    const lease = (await lock.acquire('web', TTL))!;
    await inventory.remove('web');
    await expect(inventory.putState('web', state('valid'), lease)).rejects.toBeInstanceOf(NotFoundError);
    expect(await inventory.get('web')).toBeUndefined();
  });

  it('never loses a state write to a spec change racing it', async () => {
    await declareSpec(inventory, spec('web'), clock);
    const lease = (await lock.acquire('web', TTL))!;
    await Promise.all([
      ...Array.from({ length: 10 }, () => declareSpec(inventory, spec('web'), clock)),
      inventory.putState('web', state('valid'), lease),
    ]);
    expect((await inventory.get('web'))?.state.status).toBe('valid');
  });

  it('refuses to store a state it could not read back', async () => {
    await declareSpec(inventory, spec('web'), clock);
    const lease = (await lock.acquire('web', TTL))!;
    const bad = { ...state('valid'), updatedAt: 'yesterday' };
    await expect(inventory.putState('web', bad, lease)).rejects.toBeInstanceOf(ValidationError);
  });

  it('reads every record to find the due ones, and names a damaged heartbeat', async () => {
    await declareSpec(inventory, spec('web'), clock);
    await declareSpec(inventory, spec('api'), clock);
    const due = await inventory.listDue(clock.now(), 1);
    expect(due.records.map((r) => r.spec.name)).toEqual(['api']);
    expect(due.itemsRead).toBe(2);

    await heartbeat.record(clock.now(), { checked: 2, enqueued: 2 });
    const file = join(root, 'inventory', '_scheduler.json');
    await writeFile(file, '{"at":"noon"}');
    await expect(heartbeat.last()).rejects.toThrow(`${file} is corrupted: at`);
  });

  it('reports a damaged or misplaced record as an IntegrityError naming the file', async () => {
    await declareSpec(inventory, spec('web'), clock);
    const file = join(root, 'inventory', 'web.json');
    const record = JSON.parse(await readFile(file, 'utf8')) as { spec: { name: string } };
    await writeFile(file, JSON.stringify({ ...record, spec: { ...record.spec, name: 'api' } }));
    await expect(inventory.get('web')).rejects.toThrow(IntegrityError);
    await expect(inventory.list()).rejects.toThrow(`${file} is corrupted: spec.name`);
    await writeFile(file, '{');
    await expect(inventory.get('web')).rejects.toThrow(/not JSON/);
  });
});

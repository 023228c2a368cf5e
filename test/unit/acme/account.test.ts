import { createPrivateKey } from 'node:crypto';
import { inspect } from 'node:util';
import { describe, expect, it } from 'vitest';
import { AcmeAccounts, accountIdFor } from '../../../shared/acme/account.js';
import { AcmeTransport } from '../../../shared/acme/transport.js';
import { systemClock } from '../../../shared/model/clock.js';
import { ConflictError, IntegrityError } from '../../../shared/model/errors.js';
import { generateKey } from '../../../shared/pki/private-keys.js';
import { accountKey } from '../../../shared/store/layout.js';
import type { ObjectStore } from '../../../shared/store/store.js';

// Nothing listens here: any network call would fail these tests.
const DIRECTORY = 'https://127.0.0.1:1/dir';
const EMAIL = 'ops@example.com';
const KEY = accountKey(DIRECTORY, accountIdFor(EMAIL));

class CountingStore implements ObjectStore {
  readonly objects = new Map<string, string>();
  gets = 0;
  puts: { key: string; options: unknown }[] = [];
  /** Simulates another cold start writing between our read and our conditional write. */
  raceWinner: string | undefined;
  async get(key: string) {
    this.gets++;
    return this.objects.get(key);
  }
  async put(key: string, body: string, options: { ifAbsent?: boolean } = {}) {
    this.puts.push({ key, options });
    if (options.ifAbsent && this.raceWinner) {
      this.objects.set(key, this.raceWinner);
      throw new ConflictError(`${key} exists`);
    }
    this.objects.set(key, body);
  }
  async delete(key: string) {
    this.objects.delete(key);
  }
}

const stored = (url: string | undefined, keyPem = generateKey('ecdsa-p256')) =>
  JSON.stringify({
    version: 1,
    directoryUrl: DIRECTORY,
    contact: [`mailto:${EMAIL}`],
    keyPem,
    ...(url ? { url } : {}),
    createdAt: '2026-01-01T00:00:00.000Z',
  });

describe('AcmeAccounts', () => {
  it('keys accounts by CA host and a hash of the contact', () => {
    expect(accountIdFor(EMAIL)).toMatch(/^[0-9a-f]{16}$/);
    expect(accountIdFor(' OPS@example.com ')).toBe(accountIdFor(EMAIL));
    expect(accountIdFor(undefined)).toBe('default');
    expect(KEY).toBe(`accounts/127.0.0.1_1/${accountIdFor(EMAIL)}.json`);
  });

  it('reuses a stored account without calling the CA, and caches it per process', async () => {
    const store = new CountingStore();
    store.objects.set(KEY, stored('https://ca.test/acct/1'));
    const accounts = new AcmeAccounts(store, { transport: new AcmeTransport({ clock: systemClock }) });
    const first = await accounts.get({ directoryUrl: DIRECTORY, email: EMAIL });
    const second = await accounts.get({ directoryUrl: DIRECTORY, email: EMAIL });
    expect(first.url).toBe('https://ca.test/acct/1');
    expect(second).toBe(first);
    expect(store.gets).toBe(1);
    expect(store.puts).toEqual([]);
  });

  it('never shows the key in JSON or inspect output', async () => {
    const store = new CountingStore();
    store.objects.set(KEY, stored('https://ca.test/acct/1'));
    const account = await new AcmeAccounts(store, {
      transport: new AcmeTransport({ clock: systemClock }),
    }).get({ directoryUrl: DIRECTORY, email: EMAIL });
    expect(JSON.stringify(account)).not.toContain('PRIVATE KEY');
    expect(inspect(account, { depth: 5 })).not.toContain('PRIVATE KEY');
  });

  it('uses the key another cold start wrote first, never its own', async () => {
    const store = new CountingStore();
    store.raceWinner = stored('https://ca.test/acct/winner');
    const account = await new AcmeAccounts(store, {
      transport: new AcmeTransport({ clock: systemClock }),
    }).get({ directoryUrl: DIRECTORY, email: EMAIL });
    expect(account.url).toBe('https://ca.test/acct/winner');
    expect(store.puts).toHaveLength(1);
    expect(store.puts[0]?.options).toMatchObject({ secret: true, ifAbsent: true });
    expect(store.objects.get(KEY)).toBe(store.raceWinner);
  });

  it('refuses an unreadable account object and leaves it alone', async () => {
    const store = new CountingStore();
    store.objects.set(KEY, '{"not":"an account"}');
    const accounts = new AcmeAccounts(store, { transport: new AcmeTransport({ clock: systemClock }) });
    await expect(accounts.get({ directoryUrl: DIRECTORY, email: EMAIL })).rejects.toThrow(IntegrityError);
    expect(store.puts).toEqual([]);
    // Failures are not cached: a repaired object is picked up by the next call.
    store.objects.set(KEY, stored('https://ca.test/acct/2'));
    await expect(accounts.get({ directoryUrl: DIRECTORY, email: EMAIL })).resolves.toMatchObject({
      url: 'https://ca.test/acct/2',
    });
  });

  it('stores the key before registering, so a failed registration keeps it', async () => {
    const store = new CountingStore();
    const accounts = new AcmeAccounts(store, { transport: new AcmeTransport({ clock: systemClock }) });
    await expect(accounts.get({ directoryUrl: DIRECTORY, email: EMAIL })).rejects.toThrow();
    const saved = JSON.parse(store.objects.get(KEY)!) as { keyPem: string; url?: string };
    expect(createPrivateKey(saved.keyPem).type).toBe('private');
    expect(saved.url).toBeUndefined();
    expect(store.puts[0]?.options).toMatchObject({ secret: true, ifAbsent: true });
  });
});

import { retentionClass } from '../../../shared/store/keys.js';
import { mkdtemp, readdir, readFile, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  ConflictError,
  IntegrityError,
  NotFoundError,
  ValidationError,
} from '../../../shared/model/errors.js';
import { FsCertificateStore, FsObjectStore } from '../../../shared/store/fs-store.js';
import { bundleFileKey, manifestKey } from '../../../shared/store/keys.js';
import { ObjectCertificateStore } from '../../../shared/store/object-certificate-store.js';
import { fakeBundle, fakeMeta } from './fixtures.js';

let root: string;
beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), 'certkeeper-fs-store-'));
});
afterEach(async () => {
  await rm(root, { recursive: true, force: true });
});

const mode = async (path: string) => (await stat(path)).mode & 0o777;

describe('FsCertificateStore', () => {
  it('writes the four files and a manifest that reads back identically', async () => {
    const store = new FsCertificateStore({ root });
    const written = await store.putBundle('web', 'AA01', fakeBundle('a'), fakeMeta());
    expect(await store.getManifest('web')).toEqual(written);
    expect(written.files.privkey.key).toBe(bundleFileKey('web', 'AA01', 'privkey'));
    expect(await store.readFile(written.files.fullchain.key)).toBe(fakeBundle('a').fullchain);
    expect(written.profile).toBe('tlsserver');
    expect(written.certId).toBeUndefined();
  });

  it('keeps private keys at 0600 and directories at 0700', async () => {
    await new FsCertificateStore({ root }).putBundle('web', 'AA01', fakeBundle('a'), fakeMeta());
    expect(await mode(join(root, bundleFileKey('web', 'AA01', 'privkey')))).toBe(0o600);
    expect(await mode(join(root, 'certificates/web/AA01'))).toBe(0o700);
    expect(await mode(join(root, 'certificates/web'))).toBe(0o700);
    expect(await mode(join(root, bundleFileKey('web', 'AA01', 'cert')))).toBe(0o644);
  });

  it('accepts an identical re-put and refuses different content under the same serial', async () => {
    const store = new FsCertificateStore({ root });
    await store.putBundle('web', 'AA01', fakeBundle('a'), fakeMeta());
    await expect(store.putBundle('web', 'AA01', fakeBundle('a'), fakeMeta())).resolves.toMatchObject({
      serial: 'AA01',
    });
    const err = await store.putBundle('web', 'AA01', fakeBundle('b'), fakeMeta()).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(IntegrityError);
    expect(String((err as Error).message)).toContain('certificates/web/AA01/');
    expect(await store.readFile(bundleFileKey('web', 'AA01', 'cert'))).toBe(fakeBundle('a').cert);
  });

  it('writes the manifest last, and a failed manifest write leaves the previous one current', async () => {
    const objects = new FsObjectStore({ root });
    const writes: string[] = [];
    let failManifest = false;
    const recording = Object.assign(Object.create(objects) as FsObjectStore, {
      put: async (key: string, body: string, options?: { secret?: boolean; ifAbsent?: boolean }) => {
        if (failManifest && key === manifestKey('web')) throw new Error('disk full');
        writes.push(key);
        return objects.put(key, body, options);
      },
    });
    const store = new ObjectCertificateStore(recording);
    await store.putBundle('web', 'AA01', fakeBundle('a'), fakeMeta());
    expect(writes.at(-1)).toBe(manifestKey('web'));
    expect(writes).toHaveLength(5);

    failManifest = true;
    await expect(store.putBundle('web', 'BB02', fakeBundle('b'), fakeMeta())).rejects.toThrow('disk full');
    expect((await store.getManifest('web'))?.serial).toBe('AA01');
    expect(await store.listSerials('web')).toEqual(['AA01', 'BB02']);
  });

  it('returns undefined without a manifest and names the key of a corrupt one', async () => {
    const store = new FsCertificateStore({ root });
    expect(await store.getManifest('web')).toBeUndefined();
    await store.putBundle('web', 'AA01', fakeBundle('a'), fakeMeta());
    const path = join(root, manifestKey('web'));
    const good = JSON.parse(await readFile(path, 'utf8')) as Record<string, unknown>;

    for (const corrupt of [
      '{"version": 1, "name": "we',
      JSON.stringify({ ...good, notAfter: 'soon' }),
      JSON.stringify({ ...good, name: 'api' }),
      JSON.stringify({ ...good, serial: 'CC03' }), // files then point outside the serial prefix
    ]) {
      await writeFile(path, corrupt);
      const err = await store.getManifest('web').catch((e: unknown) => e);
      expect(err).toBeInstanceOf(IntegrityError);
      expect((err as Error).message).toContain(manifestKey('web'));
    }
  });

  it('lists serials oldest first', async () => {
    const store = new FsCertificateStore({ root });
    for (const serial of ['0C', '0A', '0B'])
      await store.putBundle('web', serial, fakeBundle(serial), fakeMeta());
    const stamp = (serial: string, seconds: number) =>
      Promise.all(
        (['cert', 'chain', 'fullchain', 'privkey'] as const).map((f) =>
          utimes(join(root, bundleFileKey('web', serial, f)), seconds, seconds),
        ),
      );
    await stamp('0C', 1000);
    await stamp('0A', 3000);
    await stamp('0B', 2000);
    expect(await store.listSerials('web')).toEqual(['0C', '0B', '0A']);
    expect(await store.listSerials('api')).toEqual([]);
  });

  it('refuses a bundle without a private key without echoing it, and unsafe serials', async () => {
    const store = new FsCertificateStore({ root });
    const bundle = { ...fakeBundle('a'), privkey: 'not a key but secret-ish text' };
    const err = await store.putBundle('web', 'AA01', bundle, fakeMeta()).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ValidationError);
    expect((err as Error).message).not.toContain('secret-ish');
    await expect(store.putBundle('web', '../x', fakeBundle('a'), fakeMeta())).rejects.toBeInstanceOf(
      ValidationError,
    );
    await expect(
      store.putBundle('web', 'AA01', fakeBundle('a'), fakeMeta({ notAfter: 'next month' })),
    ).rejects.toThrow('meta.notAfter');
    await expect(readdir(root)).resolves.toEqual([]);
  });

  it('throws NotFoundError for a missing file', async () => {
    await expect(
      new FsCertificateStore({ root }).readFile('certificates/web/AA01/cert.pem'),
    ).rejects.toBeInstanceOf(NotFoundError);
  });
});

describe('FsObjectStore', () => {
  it('creates only when absent, with ConflictError otherwise, and leaves no temp files', async () => {
    const objects = new FsObjectStore({ root });
    await objects.put('accounts/ca/a.json', '{"a":1}', { ifAbsent: true, secret: true });
    await expect(objects.put('accounts/ca/a.json', '{"a":2}', { ifAbsent: true })).rejects.toBeInstanceOf(
      ConflictError,
    );
    expect(await objects.get('accounts/ca/a.json')).toBe('{"a":1}');
    expect(await mode(join(root, 'accounts/ca/a.json'))).toBe(0o600);
    await objects.put('accounts/ca/a.json', '{"a":3}');
    expect(await objects.get('accounts/ca/a.json')).toBe('{"a":3}');
    expect(await readdir(join(root, 'accounts/ca'))).toEqual(['a.json']);
  });

  it('deletes idempotently and lists by prefix', async () => {
    const objects = new FsObjectStore({ root });
    await objects.put('challenges/http-01/tok1', 'ka1');
    await objects.put('challenges/http-01/tok2', 'ka2');
    await objects.put('challenges/other', 'x');
    expect((await objects.list('challenges/http-01/')).map((o) => o.key).sort()).toEqual([
      'challenges/http-01/tok1',
      'challenges/http-01/tok2',
    ]);
    expect((await objects.list('challenges/http-01/tok1')).map((o) => o.key)).toEqual([
      'challenges/http-01/tok1',
    ]);
    await objects.delete('challenges/http-01/tok1');
    await objects.delete('challenges/http-01/tok1');
    expect(await objects.get('challenges/http-01/tok1')).toBeUndefined();
  });

  it('refuses keys that would leave the root', async () => {
    const objects = new FsObjectStore({ root });
    for (const key of ['../escape', 'a/../../b', '/abs', 'a//b', 'a\\b']) {
      await expect(objects.put(key, 'x')).rejects.toBeInstanceOf(ValidationError);
    }
  });
});

describe('retentionClass', () => {
  it('puts a certificate in the smallest lifetime class that covers it, none beyond the largest', () => {
    const days = (n: number) => n * 86_400_000;
    expect(retentionClass(160 * 3_600_000)).toBe(10); // shortlived
    expect(retentionClass(days(10))).toBe(10);
    expect(retentionClass(days(10) + 1)).toBe(100);
    expect(retentionClass(days(90))).toBe(100); // classic
    expect(retentionClass(days(398))).toBe(400);
    expect(retentionClass(days(401))).toBeUndefined(); // kept: no rule would be long enough
  });
});

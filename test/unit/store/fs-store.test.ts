import { retentionClass } from '../../../shared/store/layout.js';
import { mkdtemp, readdir, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ConflictError, ValidationError } from '../../../shared/model/errors.js';
import { FsCertificateStore, FsObjectStore } from '../../../shared/store/fs-store.js';
import { bundleFileKey, manifestKey } from '../../../shared/store/layout.js';
import { ObjectCertificateStore } from '../../../shared/store/object-certificate-store.js';
import { fakeBundle, fakeMeta } from '../../support/store-fixtures.js';

let root: string;
beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), 'certkeeper-fs-store-'));
});
afterEach(async () => {
  await rm(root, { recursive: true, force: true });
});

const mode = async (path: string) => (await stat(path)).mode & 0o777;

// What every CertificateStore and ObjectStore promises (read back, immutable serials,
// corrupt manifests, serial order, refused input, a failed manifest write, ifAbsent,
// idempotent delete, listing) is in test/contracts/; these are the directory's own.
describe('FsCertificateStore', () => {
  it('keeps private keys at 0600 and directories at 0700', async () => {
    await new FsCertificateStore({ root }).putBundle('web', 'AA01', fakeBundle('a'), fakeMeta());
    expect(await mode(join(root, bundleFileKey('web', 'AA01', 'privkey')))).toBe(0o600);
    expect(await mode(join(root, 'certificates/web/AA01'))).toBe(0o700);
    expect(await mode(join(root, 'certificates/web'))).toBe(0o700);
    expect(await mode(join(root, bundleFileKey('web', 'AA01', 'cert')))).toBe(0o644);
  });

  it('writes the manifest last, after the four files', async () => {
    const objects = new FsObjectStore({ root });
    const writes: string[] = [];
    const recording = Object.assign(Object.create(objects) as FsObjectStore, {
      put: async (key: string, body: string, options?: { secret?: boolean; ifAbsent?: boolean }) => {
        writes.push(key);
        return objects.put(key, body, options);
      },
    });
    await new ObjectCertificateStore(recording).putBundle('web', 'AA01', fakeBundle('a'), fakeMeta());
    expect(writes.at(-1)).toBe(manifestKey('web'));
    expect(writes).toHaveLength(5);
  });
});

describe('FsObjectStore', () => {
  it('writes secrets at 0600 and leaves no temp files, also after a refused ifAbsent write', async () => {
    const objects = new FsObjectStore({ root });
    await objects.put('accounts/ca/a.json', '{"a":1}', { ifAbsent: true, secret: true });
    await expect(objects.put('accounts/ca/a.json', '{"a":2}', { ifAbsent: true })).rejects.toBeInstanceOf(
      ConflictError,
    );
    expect(await mode(join(root, 'accounts/ca/a.json'))).toBe(0o600);
    await objects.put('accounts/ca/a.json', '{"a":3}');
    expect(await readdir(join(root, 'accounts/ca'))).toEqual(['a.json']);
  });

  it('writes a non-durable object (a lock file) the same way: whole, ifAbsent honoured, no temp files', async () => {
    const objects = new FsObjectStore({ root });
    await objects.put('locks/web.guard', 'first', { ifAbsent: true, durable: false });
    await expect(
      objects.put('locks/web.guard', 'second', { ifAbsent: true, durable: false }),
    ).rejects.toBeInstanceOf(ConflictError);
    await objects.put('locks/web.lock', 'lease', { durable: false });
    expect(await objects.get('locks/web.guard')).toBe('first');
    expect(await objects.get('locks/web.lock')).toBe('lease');
    expect((await readdir(join(root, 'locks'))).sort()).toEqual(['web.guard', 'web.lock']);
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

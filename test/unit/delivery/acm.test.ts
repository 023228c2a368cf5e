/**
 * When a certificate is due for its ACM imports and what a pass records, as pure logic: the
 * importer is a stand-in that fails on demand (faults moto cannot produce on cue, such as
 * an error quoting the key or throttling with a long wait). The real import runs against
 * moto in test/integration/acm.test.ts.
 */
import type { ACMClient } from '@aws-sdk/client-acm';
import { describe, expect, it } from 'vitest';
import { SdkAcmImporter, type AcmImporter, type AcmImportInput } from '../../../shared/delivery/acm.js';
import { deliverToAcm } from '../../../shared/delivery/acm-delivery.js';
import { acmImportDueAt, acmImportsDueNow, pendingAcmRegions } from '../../../shared/renewal/acm-plan.js';
import { HOUR, MINUTE } from '../../../shared/model/clock.js';
import { NotFoundError, RetryLaterError, UnreachableError } from '../../../shared/model/errors.js';
import { silentLog } from '../../../shared/model/log.js';
import { parseCertificateSpec } from '../../../shared/model/spec.js';
import type { AcmDeliveryState, CertificateState } from '../../../shared/model/state.js';
import { generateKey } from '../../../shared/pki/index.js';
import { computeDueAt, dueReason } from '../../../shared/renewal/policy.js';
import { stateAfterSpecChange } from '../../../shared/renewal/spec-change.js';
import type { CertificateStore, Manifest } from '../../../shared/store/store.js';

const T0 = new Date('2026-11-01T00:00:00Z');
const at = (ms: number) => new Date(T0.getTime() + ms);
const iso = (ms: number) => at(ms).toISOString();
const half = () => 0.5;

const spec = (acmRegions?: string[]) =>
  parseCertificateSpec({ name: 'web', identifiers: ['example.com'], profile: 'shortlived', acmRegions });
const valid = (acm?: Record<string, AcmDeliveryState>, serial = 'AB02'): CertificateState => ({
  status: 'valid',
  current: { serial, notBefore: iso(0), notAfter: iso(160 * HOUR), manifestKey: 'm' },
  attempts: 0,
  updatedAt: iso(0),
  ...(acm ? { acm } : {}),
});
const holds = (serial: string, arn = 'arn:aws:acm:us-east-1:1:certificate/a'): AcmDeliveryState => ({
  arn,
  serial,
  importedAt: iso(0),
  attemptedAt: iso(0),
});
const failed = (retryAt: number, failures = 1): AcmDeliveryState => ({
  error: 'ACM unreachable',
  attemptedAt: iso(0),
  failures,
  retryAt: iso(retryAt),
});

describe('which ACM regions are pending, and when they are due', () => {
  const both = spec(['us-east-1', 'eu-west-1']);

  it('a region is pending until it holds the current serial', () => {
    expect(pendingAcmRegions(both, valid(), at(0))).toEqual(['us-east-1', 'eu-west-1']);
    expect(pendingAcmRegions(both, valid({ 'us-east-1': holds('AB02') }), at(0))).toEqual(['eu-west-1']);
    // An older serial in ACM is pending too: that is what a renewal leaves behind.
    expect(pendingAcmRegions(both, valid({ 'us-east-1': holds('AB01') }), at(0))).toEqual([
      'us-east-1',
      'eu-west-1',
    ]);
  });

  it('nothing is pending without a certificate, once retired, once expired, or without regions', () => {
    expect(pendingAcmRegions(both, { status: 'pending', attempts: 0, updatedAt: iso(0) }, at(0))).toEqual([]);
    expect(pendingAcmRegions(both, { ...valid(), status: 'retired' }, at(0))).toEqual([]);
    expect(pendingAcmRegions(both, valid(), at(160 * HOUR))).toEqual([]);
    expect(pendingAcmRegions(spec(), valid(), at(0))).toEqual([]);
  });

  it('never tried: due at once; failed: due at its retry time; the earliest region wins', () => {
    expect(acmImportDueAt(both, valid(), at(5))).toEqual(at(5));
    const state = valid({ 'us-east-1': failed(10 * MINUTE), 'eu-west-1': failed(2 * MINUTE) });
    expect(acmImportDueAt(both, state, at(0))).toEqual(at(2 * MINUTE));
    expect(acmImportsDueNow(both, state, at(MINUTE))).toEqual([]);
    expect(acmImportsDueNow(both, state, at(2 * MINUTE))).toEqual(['eu-west-1']);
    expect(
      acmImportDueAt(both, valid({ 'us-east-1': holds('AB02'), 'eu-west-1': holds('AB02') }), at(0)),
    ).toBe(undefined);
  });

  it('dueAt comes no later than a failed import may be retried, with its own reason', () => {
    const state = valid({ 'us-east-1': failed(3 * MINUTE), 'eu-west-1': holds('AB02') });
    // Renewal is ~80 h away: the import retry leads.
    expect(computeDueAt(both, state, at(0))).toEqual(at(3 * MINUTE));
    expect(dueReason(both, state, at(MINUTE))).toBeUndefined();
    expect(dueReason(both, state, at(3 * MINUTE))).toBe('acm-import');
    // Once every region holds the serial, only the renewal time is left.
    const done = valid({ 'us-east-1': holds('AB02'), 'eu-west-1': holds('AB02') });
    expect(computeDueAt(both, done, at(0))).toEqual(at(80 * HOUR));
  });

  it('a region newly declared for a certificate in place is due at once; other delivery changes touch nothing', () => {
    const state = { ...valid({ 'us-east-1': holds('AB02') }), dueAt: iso(80 * HOUR) };
    const added = stateAfterSpecChange(state, spec(['us-east-1']), both, at(HOUR));
    expect(added).toEqual({ ...state, dueAt: iso(HOUR) });
    expect(stateAfterSpecChange(state, both, spec(['us-east-1']), at(HOUR))).toBe(state);
  });
});

/** An importer that answers from a script, and the calls it saw (without the key). */
function scripted(answer: (region: string, input: AcmImportInput) => string | Error) {
  const calls: { region: string; arn?: string; tags: Record<string, string> }[] = [];
  const importer: AcmImporter = {
    importCertificate: async (region, input) => {
      calls.push({ region, arn: input.certificateArn, tags: input.tags });
      const result = answer(region, input);
      if (result instanceof Error) throw result;
      return result;
    },
  };
  return { importer, calls };
}

function storeWith(serial: string, keyType = 'ecdsa-p256'): CertificateStore {
  const files: Record<string, string> = { c: 'LEAF', ch: 'CHAIN', k: 'KEY' };
  return {
    location: 'memory',
    putBundle: () => Promise.reject(new Error('not used')),
    listSerials: () => Promise.resolve([serial]),
    getManifest: () =>
      Promise.resolve({
        serial,
        keyType,
        files: { cert: { key: 'c' }, chain: { key: 'ch' }, privkey: { key: 'k' } },
      } as unknown as Manifest),
    readFile: (key) => Promise.resolve(files[key]!),
  };
}

describe('deliverToAcm', () => {
  const both = spec(['us-east-1', 'eu-west-1']);
  const arnIn = (region: string) => `arn:aws:acm:${region}:1:certificate/${region}`;

  it('imports every pending region, then re-imports into the recorded ARN with the new serial tag', async () => {
    const { importer, calls } = scripted((region, input) => input.certificateArn ?? arnIn(region));
    const deps = { acm: importer, store: storeWith('AB02'), log: silentLog, random: half };
    const first = await deliverToAcm(deps, both, valid(), at(0), { fresh: true });
    const imported = (region: string) => ({
      arn: arnIn(region),
      serial: 'AB02',
      keyType: 'ecdsa-p256',
      importedAt: iso(0),
      attemptedAt: iso(0),
    });
    expect(first.acm).toEqual({ 'us-east-1': imported('us-east-1'), 'eu-west-1': imported('eu-west-1') });
    expect(calls).toEqual([
      {
        region: 'us-east-1',
        arn: undefined,
        tags: { 'certkeeper:certificate': 'web', 'certkeeper:serial': 'AB02' },
      },
      {
        region: 'eu-west-1',
        arn: undefined,
        tags: { 'certkeeper:certificate': 'web', 'certkeeper:serial': 'AB02' },
      },
    ]);

    const renewed = { ...first, current: { ...first.current!, serial: 'AB03' } };
    const second = await deliverToAcm({ ...deps, store: storeWith('AB03') }, both, renewed, at(HOUR), {
      fresh: true,
    });
    expect(second.acm?.['us-east-1']).toMatchObject({ arn: arnIn('us-east-1'), serial: 'AB03' });
    expect(calls.slice(2).map((c) => [c.arn, c.tags['certkeeper:serial']])).toEqual([
      [arnIn('us-east-1'), 'AB03'],
      [arnIn('eu-west-1'), 'AB03'],
    ]);
    // Nothing pending: a further pass calls nothing and returns the state as it was.
    expect(await deliverToAcm(deps, both, second, at(HOUR), { fresh: false })).toBe(second);
    expect(calls).toHaveLength(4);
  });

  it('a failure keeps what ACM holds, counts, backs off; a pass before the retry time leaves it alone', async () => {
    let down = true;
    const { importer, calls } = scripted((region, input) =>
      down
        ? new UnreachableError('ACM endpoint unreachable', 'check the network')
        : (input.certificateArn ?? arnIn(region)),
    );
    const deps = { acm: importer, store: storeWith('AB03'), log: silentLog, random: half };
    const state = valid({ 'us-east-1': holds('AB02', arnIn('us-east-1')) }, 'AB03');
    const one = await deliverToAcm(deps, spec(['us-east-1']), state, at(0), { fresh: true });
    expect(one.acm?.['us-east-1']).toEqual({
      arn: arnIn('us-east-1'),
      serial: 'AB02',
      importedAt: iso(0),
      error: 'ACM endpoint unreachable. Fix: check the network',
      attemptedAt: iso(0),
      failures: 1,
      retryAt: iso(MINUTE),
    });
    expect(one.current).toEqual(state.current);
    expect(one.attempts).toBe(0);

    // Not fresh and before the retry time: no call at all.
    expect(await deliverToAcm(deps, spec(['us-east-1']), one, at(30_000), { fresh: false })).toBe(one);
    expect(calls).toHaveLength(1);
    // At the retry time, still down: the second step of the backoff (2 minutes).
    const two = await deliverToAcm(deps, spec(['us-east-1']), one, at(MINUTE), { fresh: false });
    expect(two.acm?.['us-east-1']).toMatchObject({ failures: 2, retryAt: iso(3 * MINUTE), serial: 'AB02' });
    // Back up: the retry succeeds into the same ARN and the failure is forgotten.
    down = false;
    const three = await deliverToAcm(deps, spec(['us-east-1']), two, at(3 * MINUTE), { fresh: false });
    expect(three.acm?.['us-east-1']).toEqual({
      arn: arnIn('us-east-1'),
      serial: 'AB03',
      keyType: 'ecdsa-p256',
      importedAt: iso(3 * MINUTE),
      attemptedAt: iso(3 * MINUTE),
    });
    expect(calls.map((c) => c.arn)).toEqual([arnIn('us-east-1'), arnIn('us-east-1'), arnIn('us-east-1')]);
  });

  it('a fresh certificate is tried at once, whatever the backoff of the previous serial said', async () => {
    const { importer, calls } = scripted((region) => arnIn(region));
    const deps = { acm: importer, store: storeWith('AB02'), log: silentLog, random: half };
    const state = valid({ 'us-east-1': failed(6 * HOUR, 9) });
    expect(await deliverToAcm(deps, spec(['us-east-1']), state, at(0), { fresh: false })).toBe(state);
    const next = await deliverToAcm(deps, spec(['us-east-1']), state, at(0), { fresh: true });
    expect(next.acm?.['us-east-1']).toMatchObject({ serial: 'AB02' });
    expect(calls).toHaveLength(1);
  });

  it("ACM's own later retry time (throttling, the import quota) wins over the backoff", async () => {
    const { importer } = scripted(
      () => new RetryLaterError('ACM ImportCertificate was throttled', at(2 * HOUR)),
    );
    const next = await deliverToAcm(
      { acm: importer, store: storeWith('AB02'), log: silentLog, random: half },
      spec(['us-east-1']),
      valid(),
      at(0),
      { fresh: true },
    );
    expect(next.acm?.['us-east-1']).toMatchObject({ failures: 1, retryAt: iso(2 * HOUR) });
  });

  it('a re-import into a certificate deleted in ACM falls back to a new import', async () => {
    const { importer, calls } = scripted((region, input) =>
      input.certificateArn
        ? new NotFoundError('ACM certificate does not exist', 'import again')
        : `${arnIn(region)}-new`,
    );
    const next = await deliverToAcm(
      { acm: importer, store: storeWith('AB03'), log: silentLog, random: half },
      spec(['us-east-1']),
      valid({ 'us-east-1': holds('AB02', arnIn('us-east-1')) }, 'AB03'),
      at(0),
      { fresh: true },
    );
    expect(next.acm?.['us-east-1']).toMatchObject({ arn: `${arnIn('us-east-1')}-new`, serial: 'AB03' });
    expect(calls.map((c) => c.arn)).toEqual([arnIn('us-east-1'), undefined]);
  });

  it('a changed key type imports a new ACM certificate and says to re-point listeners; an unknown one re-imports', async () => {
    const { importer, calls } = scripted((region, input) => input.certificateArn ?? `${arnIn(region)}-rsa`);
    const warnings: { message: string; extra?: Record<string, unknown> }[] = [];
    const log = {
      ...silentLog,
      warn: (message: string, extra?: Record<string, unknown>) => warnings.push({ message, extra }),
    };
    const was = { ...holds('AB02', arnIn('us-east-1')), keyType: 'ecdsa-p256' };
    const next = await deliverToAcm(
      { acm: importer, store: storeWith('AB03', 'rsa2048'), log, random: half },
      spec(['us-east-1']),
      valid({ 'us-east-1': was }, 'AB03'),
      at(0),
      { fresh: true },
    );
    expect(calls.map((c) => c.arn)).toEqual([undefined]);
    expect(next.acm?.['us-east-1']).toMatchObject({
      arn: `${arnIn('us-east-1')}-rsa`,
      serial: 'AB03',
      keyType: 'rsa2048',
    });
    expect(warnings).toEqual([
      {
        message: 'imported into ACM as a new certificate: point listeners at the new ARN',
        extra: expect.objectContaining({
          previousArn: arnIn('us-east-1'),
          reason:
            'the key type changed from ecdsa-p256 to rsa2048, which ACM cannot re-import into the same ARN',
        }) as unknown,
      },
    ]);
    // A region recorded before key types were (no keyType): re-imported in place.
    await deliverToAcm(
      { acm: importer, store: storeWith('AB03', 'rsa2048'), log, random: half },
      spec(['us-east-1']),
      valid({ 'us-east-1': holds('AB02', arnIn('us-east-1')) }, 'AB03'),
      at(0),
      { fresh: true },
    );
    expect(calls.map((c) => c.arn)).toEqual([undefined, arnIn('us-east-1')]);
  });

  it('without an importer (local mode) or with a store out of step, the import is recorded as failed', async () => {
    const local = await deliverToAcm(
      { store: storeWith('AB02'), log: silentLog, random: half },
      spec(['us-east-1']),
      valid(),
      at(0),
      { fresh: true },
    );
    expect(local.acm?.['us-east-1']?.error).toMatch(/no ACM importer \(local mode\)/);
    const { importer, calls } = scripted((region) => arnIn(region));
    const stale = await deliverToAcm(
      { acm: importer, store: storeWith('AB01'), log: silentLog, random: half },
      spec(['us-east-1']),
      valid(),
      at(0),
      { fresh: true },
    );
    expect(stale.acm?.['us-east-1']?.error).toMatch(/manifest .* names serial AB01, the inventory AB02/);
    expect(calls).toEqual([]);
  });
});

describe('SdkAcmImporter errors', () => {
  it('an error that quotes the private key is replaced: the key never reaches state or logs', async () => {
    const key = generateKey('ecdsa-p256');
    const line = key.split('\n')[1]!;
    const client = {
      config: {},
      send: () =>
        Promise.reject(
          Object.assign(new Error(`Value '${line}' at 'privateKey' failed to satisfy constraint`), {
            name: 'ValidationException',
            $metadata: { httpStatusCode: 400 },
          }),
        ),
    } as unknown as ACMClient;
    const importer = new SdkAcmImporter({ clientFor: () => client });
    const error = await importer
      .importCertificate('us-east-1', { certificate: 'LEAF', chain: '', privateKey: key, tags: {} })
      .then(
        () => undefined,
        (err: unknown) => err as Error,
      );
    expect(error?.message).toBe(
      'ACM ImportCertificate in us-east-1 failed (message withheld: it quoted key material)',
    );
    expect(JSON.stringify(error)).not.toContain(line);
    expect((error as Error & { cause?: unknown }).cause).toBeUndefined();
  });

  it('other errors pass through translated, naming the operation, region and the permissions it needs', async () => {
    const client = {
      config: {},
      send: () =>
        Promise.reject(
          Object.assign(new Error('User is not authorized'), {
            name: 'AccessDeniedException',
            $metadata: { httpStatusCode: 400 },
          }),
        ),
    } as unknown as ACMClient;
    const importer = new SdkAcmImporter({ clientFor: () => client });
    const error = (await importer
      .importCertificate('eu-west-1', { certificate: 'LEAF', chain: '', privateKey: 'KEY', tags: { a: 'b' } })
      .catch((err: unknown) => err)) as Error & { fix?: string };
    expect(error.message).toBe(
      'ACM ImportCertificate on certificates in eu-west-1 was denied: AccessDeniedException (HTTP 400): User is not authorized',
    );
    expect(error.fix).toContain('acm:ImportCertificate and acm:AddTagsToCertificate');
  });
});

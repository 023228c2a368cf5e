/**
 * When the order's key is kept (shared/acme/order-certificate.ts): written from the moment
 * the order exists, beside its authorizations, awaited before finalize, and taken back when
 * the attempt fails before finalize. The CA is a fake that replays the points of an order at
 * which a real one can fail; the timings (a slow key write) are what no peer produces on cue.
 */
import { describe, expect, it } from 'vitest';
import type { CertificateAuthority, OrderRequest } from '../../../shared/acme/ca.js';
import { orderCertificate } from '../../../shared/acme/order-certificate.js';
import type { ChallengeSolver } from '../../../shared/challenges/solver.js';
import { silentLog } from '../../../shared/model/log.js';
import { parseCertificateSpec } from '../../../shared/model/spec.js';
import type { PendingKey, PendingKeys } from '../../../shared/store/pending-keys.js';

const spec = parseCertificateSpec({ name: 'web', identifiers: ['www.example.test'] });
const solver = { type: 'dns-01' } as ChallengeSolver;
const ORDER = 'https://ca.test/order/1';

/** Pending keys in memory, with a write that finishes only when `release()` is called. */
function slowKeys() {
  const stored = new Map<string, PendingKey>();
  const calls: string[] = [];
  let release!: () => void;
  const gate = new Promise<void>((resolve) => (release = resolve));
  const keys: PendingKeys = {
    get: async (name) => stored.get(name),
    put: async (name, pending) => {
      calls.push('put started');
      await gate;
      stored.set(name, pending);
      calls.push('put done');
    },
    delete: async (name) => {
      calls.push('delete');
      stored.delete(name);
    },
  };
  return { keys, stored, calls, release };
}

/** A CA whose order, once it exists and is recorded, runs `steps` (which throw where a real one fails). */
function fakeCa(calls: string[], steps: (request: OrderRequest) => Promise<void>): CertificateAuthority {
  return {
    directoryUrl: 'https://ca.test/dir',
    directory: async () => ({}) as Awaited<ReturnType<CertificateAuthority['directory']>>,
    issue: async (request) => {
      await request.onOrder?.(ORDER);
      calls.push('order recorded');
      await steps(request);
      return { fullchainPem: 'chain', orderUrl: ORDER };
    },
    getRenewalInfo: async () => {
      throw new Error('not used');
    },
    accountUrl: async () => 'https://ca.test/acct/1',
    revoke: async () => undefined,
  };
}

const plan = (keys: PendingKeys, calls: string[]) => ({
  pendingKeys: keys,
  onOrder: async () => void calls.push('onOrder'),
});

describe('the key kept for an order', () => {
  it('is written beside the authorizations and finalize waits for it', async () => {
    const { keys, stored, calls, release } = slowKeys();
    const ca = fakeCa(calls, async (request) => {
      calls.push('authorizations');
      setTimeout(release, 20);
      await request.beforeFinalize?.(ORDER);
      calls.push('finalize');
    });
    const { keyPem } = await orderCertificate(ca, spec, solver, plan(keys, calls), silentLog);
    expect(calls).toEqual([
      'put started',
      'onOrder',
      'order recorded',
      'authorizations',
      'put done',
      'finalize',
    ]);
    expect(stored.get('web')).toEqual({ orderUrl: ORDER, keyPem });
  });

  it('is taken back when the attempt fails before finalize, after its write has landed', async () => {
    const { keys, stored, calls, release } = slowKeys();
    const ca = fakeCa(calls, async () => {
      setTimeout(release, 20);
      throw new Error('validation failed');
    });
    await expect(orderCertificate(ca, spec, solver, plan(keys, calls), silentLog)).rejects.toThrow(
      'validation failed',
    );
    expect(calls).toEqual(['put started', 'onOrder', 'order recorded', 'put done', 'delete']);
    expect(stored.has('web')).toBe(false);
  });

  it('stays when the attempt fails once finalize was asked for: the CA may have bound the order to it', async () => {
    const { keys, stored, calls, release } = slowKeys();
    release();
    const ca = fakeCa(calls, async (request) => {
      await request.beforeFinalize?.(ORDER);
      throw new Error('the CA went away during finalize');
    });
    await expect(orderCertificate(ca, spec, solver, plan(keys, calls), silentLog)).rejects.toThrow(
      'went away',
    );
    expect(calls).not.toContain('delete');
    expect(stored.get('web')?.orderUrl).toBe(ORDER);
  });

  it('fails the attempt before finalize when it cannot be written', async () => {
    const calls: string[] = [];
    const keys: PendingKeys = {
      get: async () => undefined,
      put: async () => {
        throw new Error('S3 refused the write');
      },
      delete: async () => void calls.push('delete'),
    };
    const ca = fakeCa(calls, async (request) => {
      await request.beforeFinalize?.(ORDER);
      calls.push('finalize');
    });
    await expect(orderCertificate(ca, spec, solver, plan(keys, calls), silentLog)).rejects.toThrow(
      'S3 refused the write',
    );
    expect(calls).toEqual(['onOrder', 'order recorded']);
  });
});

import { describe, expect, it } from 'vitest';
import type { Authority } from '../../../shared/authorities/authorities.js';
import { issueAtAuthorities } from '../../../shared/authorities/fallback.js';
import type { CertificateAuthority, OrderRequest } from '../../../shared/acme/ca.js';
import type { CaaRecord } from '../../../shared/dns/resolver.js';
import type { ChallengeSolver } from '../../../shared/challenges/solver.js';
import { DEFAULT_CA_FALLBACK } from '../../../shared/model/cas.js';
import { systemClock } from '../../../shared/model/clock.js';
import { AcmeProblemError, UnreachableError } from '../../../shared/model/errors.js';
import { silentLog } from '../../../shared/model/log.js';
import { parseCertificateSpec } from '../../../shared/model/spec.js';

/**
 * issueAtAuthorities with stand-in CAs (the Pebble runs are test/cli/local.test.ts's
 * `issue --csr` fallback and test/integration/ca-fallback.test.ts): which CAs an order
 * reaches, in what order, and which failure comes back.
 */
type Outcome = 'ok' | Error;
function authority(name: string, outcome: Outcome, tried: string[]): Authority {
  return {
    name,
    settings: { name, directoryUrl: `https://${name}.test/dir`, caaIdentities: [`${name}.test`] },
    ca: {
      directory: async () => ({}),
      accountUrl: async () => `https://${name}.test/acct/1`,
      issue: async () => {
        tried.push(name);
        if (outcome !== 'ok') throw outcome;
        return { fullchainPem: `chain from ${name}`, orderUrl: `https://${name}.test/order/1` };
      },
    } as unknown as CertificateAuthority,
  };
}
const spec = parseCertificateSpec(
  { name: 'site', identifiers: ['www.example.com'], challenge: 'dns-01' },
  't',
);
const order: OrderRequest = { identifiers: spec.identifiers, csrPem: 'csr' } as OrderRequest;
const solver = {} as ChallengeSolver;
const caaAllowing = (ca: string) => ({
  resolveCaa: async (name: string): Promise<CaaRecord[]> =>
    name === 'example.com' ? [{ flags: 0, tag: 'issue', value: `${ca}.test` }] : [],
});
const down = new UnreachableError('a.test is down', 'wait');
const issue = (cas: Authority[], caa = caaAllowing('a')) =>
  issueAtAuthorities(
    { authorities: cas, caa, caFallback: DEFAULT_CA_FALLBACK, clock: systemClock, log: silentLog },
    spec,
    order,
    solver,
  );

describe('issueAtAuthorities: one order, tried at the CAs in turn', () => {
  it('moves on at the first failure of the CA’s own, even when the policy would wait for more', async () => {
    const tried: string[] = [];
    const cas = [authority('a', down, tried), authority('b', 'ok', tried)];
    expect(DEFAULT_CA_FALLBACK.afterFailures).toBeGreaterThan(1);
    const result = await issue(cas, { resolveCaa: async () => [] });
    expect(result).toEqual({ ca: 'b', issued: expect.objectContaining({ fullchainPem: 'chain from b' }) });
    expect(tried).toEqual(['a', 'b']);
  });

  it('stops at a failed validation, which any CA would refuse', async () => {
    const tried: string[] = [];
    const invalid = new AcmeProblemError('urn:ietf:params:acme:error:incorrectResponse', 'wrong TXT', 403);
    const cas = [authority('a', invalid, tried), authority('b', 'ok', tried)];
    await expect(issue(cas, { resolveCaa: async () => [] })).rejects.toBe(invalid);
    expect(tried).toEqual(['a']);
  });

  it('skips a CA the CAA forbids, and answers with the real failure when the rest is forbidden', async () => {
    const tried: string[] = [];
    expect(
      (await issue([authority('a', 'ok', tried), authority('b', 'ok', tried)], caaAllowing('b'))).ca,
    ).toBe('b');
    expect(tried).toEqual(['b']);
    // a fails by its own fault; b is the only other, and CAA forbids it: a's failure is the answer.
    const again: string[] = [];
    await expect(issue([authority('a', down, again), authority('b', 'ok', again)])).rejects.toBe(down);
    expect(again).toEqual(['a']);
  });

  it('gives the last CA’s failure when every CA failed by its own fault', async () => {
    const tried: string[] = [];
    const last = new UnreachableError('b.test is down', 'wait');
    await expect(
      issue([authority('a', down, tried), authority('b', last, tried)], { resolveCaa: async () => [] }),
    ).rejects.toBe(last);
    expect(tried).toEqual(['a', 'b']);
  });
});

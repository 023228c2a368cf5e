import { describe, expect, it } from 'vitest';
import type { Authority } from '../../../shared/authorities/authorities.js';
import type { CertificateAuthority } from '../../../shared/acme/ca.js';
import type { CaaRecord } from '../../../shared/dns/resolver.js';
import { parseCertificateSpec } from '../../../shared/model/spec.js';
import { caaCheck } from '../../../cli/doctor/caa.js';

/** The lookups and account URLs are stand-ins; what is tested is the verdict drawn from them. */
const authority = (name: string, account = `https://${name}.test/acct/1`): Authority => ({
  name,
  settings: { name, directoryUrl: `https://${name}.test/dir`, caaIdentities: [`${name}.test`] },
  ca: {
    directory: async () => ({}),
    accountUrl: async () => account,
  } as unknown as CertificateAuthority,
});
const CAS = [authority('a'), authority('b')];
const spec = (identifiers: string[]) =>
  parseCertificateSpec({ name: 'site', identifiers, challenge: 'dns-01' }, 'test');
const zone = (records: Record<string, string[]>) => ({
  resolveCaa: async (name: string): Promise<CaaRecord[]> => {
    if (records[name]?.[0] === 'SERVFAIL') throw new Error('SERVFAIL');
    return (records[name] ?? []).map((value) => ({ flags: 0, tag: 'issue', value }));
  },
});
const verdict = async (records: Record<string, string[]>, identifiers = ['www.example.com']) =>
  caaCheck(zone(records), spec(identifiers), CAS)!.run();

describe('doctor caa:<certificate>', () => {
  it('is ok when the first CA may issue, naming the CAs the records allow and those they do not', async () => {
    expect(await verdict({})).toEqual({ status: 'ok', message: 'certificate site: CAA allows a, b' });
    expect(await verdict({ 'example.com': ['a.test'] })).toEqual({
      status: 'ok',
      message: 'certificate site: CAA allows a; not b: CAA at example.com allows only issue "a.test"',
    });
  });

  it('warns when only a fallback may issue: renewals go there', async () => {
    const result = await verdict({ 'example.com': ['b.test'] });
    expect(result).toMatchObject({
      status: 'warn',
      message:
        'certificate site: renewals go to b, not the first CA (a: CAA at example.com allows only issue "b.test")',
    });
    expect((result as { fix: string }).fix).toMatch(/CAA "issue" record/);
  });

  it('fails when no configured CA may issue, accounturi included (RFC 8657)', async () => {
    const result = await verdict({
      'example.com': ['a.test; accounturi=https://a.test/acct/999', 'c.test'],
    });
    expect(result).toMatchObject({ status: 'fail' });
    expect((result as { message: string }).message).toContain(
      'a: CAA at example.com allows this CA only for another ACME account',
    );
    expect((result as { message: string }).message).toContain('this account is https://a.test/acct/1');
    expect((result as { message: string }).message).toContain('b: CAA at example.com allows only');
  });

  it('warns when a lookup failed, saying which name, and judges nothing by it', async () => {
    const result = await verdict({ 'www.example.com': ['SERVFAIL'] });
    expect(result).toMatchObject({ status: 'warn' });
    expect((result as { message: string }).message).toMatch(
      /www\.example\.com: CAA lookup failed; no CA skipped for it \(Error: SERVFAIL\)/,
    );
  });

  it('has no line for an IP certificate: IP addresses have no CAA (RFC 8738 §7)', () => {
    expect(
      caaCheck(zone({}), parseCertificateSpec({ name: 'ip', identifiers: ['192.0.2.1'] }, 't'), CAS),
    ).toBe(undefined);
  });
});

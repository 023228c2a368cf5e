import { describe, expect, it } from 'vitest';
import type { CaaRecord } from '../../../shared/dns/resolver.js';
import { caaNames, caaNamesAccount, caaRefusal, relevantCaa } from '../../../shared/authorities/caa.js';
import { parseIdentifiers } from '../../../shared/model/identifiers.js';
import { parseCaaValue } from '../../../scripts/peers/dns-records.js';

const issue = (value: string, tag = 'issue', flags = 0): CaaRecord => ({ flags, tag, value });
const set = (...records: CaaRecord[]) => ({ at: 'example.com', records });
const ask = (identities: string[], wildcard = false, challenge = 'dns-01') => ({
  identities,
  wildcard,
  challenge,
});

describe('caaRefusal (RFC 8659, RFC 8657)', () => {
  it('allows a CA an issue property names, and refuses one it does not, quoting the set', () => {
    const records = set(issue('letsencrypt.org'), issue('mailto:ops@example.com', 'iodef'));
    expect(caaRefusal(records, ask(['letsencrypt.org']))).toBeUndefined();
    expect(caaRefusal(records, ask(['sectigo.com']))).toBe(
      'CAA at example.com allows only issue "letsencrypt.org"',
    );
  });

  it('ignores parameters and case in the issuer domain', () => {
    expect(
      caaRefusal(set(issue('LetsEncrypt.org; accounturi=https://x/acct/1')), ask(['letsencrypt.org'])),
    ).toBeUndefined();
  });

  it('an empty issue value (";") allows no CA', () => {
    expect(caaRefusal(set(issue(';')), ask(['letsencrypt.org']))).toMatch(/allows only issue ";"/);
  });

  it('issuewild governs wildcards when present, issue otherwise', () => {
    const records = set(issue('a.test'), issue('b.test', 'issuewild'));
    expect(caaRefusal(records, ask(['b.test'], true))).toBeUndefined();
    expect(caaRefusal(records, ask(['a.test'], true))).toMatch(/allows only issuewild "b.test"/);
    expect(caaRefusal(set(issue('a.test')), ask(['a.test'], true))).toBeUndefined();
  });

  it('validationmethods restricts the challenge (RFC 8657 §4)', () => {
    const records = set(issue('a.test; validationmethods=http-01,tls-alpn-01'));
    expect(caaRefusal(records, ask(['a.test'], false, 'http-01'))).toBeUndefined();
    expect(caaRefusal(records, ask(['a.test'], false, 'dns-01'))).toMatch(/only by other validation methods/);
  });

  it('accounturi binds the CA to one ACME account (RFC 8657 §3)', () => {
    const ours = 'https://ca.test/acme/acct/7';
    const records = set(issue('a.test; accounturi=https://ca.test/acme/acct/1'), issue('b.test'));
    expect(caaRefusal(records, { ...ask(['a.test']), accountUri: ours })).toBe(
      'CAA at example.com allows this CA only for another ACME account (issue "a.test; accounturi=https://ca.test/acme/acct/1", issue "b.test"); this account is https://ca.test/acme/acct/7',
    );
    expect(
      caaRefusal(records, { ...ask(['a.test']), accountUri: 'https://ca.test/acme/acct/1' }),
    ).toBeUndefined();
    // Not known (the CA is down): left to the CA, which checks it when it is back.
    expect(caaRefusal(records, ask(['a.test']))).toBeUndefined();
    // Another CA's binding is none of this CA's business.
    expect(caaRefusal(records, { ...ask(['b.test']), accountUri: ours })).toBeUndefined();
  });

  it('one property allowing both the method and the account is enough; they are not mixed across properties', () => {
    const records = set(
      issue('a.test; validationmethods=http-01; accounturi=https://ca.test/acct/1'),
      issue('a.test; validationmethods=dns-01; accounturi=https://ca.test/acct/2'),
    );
    const as = (challenge: string, accountUri: string) => ({
      ...ask(['a.test'], false, challenge),
      accountUri,
    });
    expect(caaRefusal(records, as('http-01', 'https://ca.test/acct/1'))).toBeUndefined();
    expect(caaRefusal(records, as('dns-01', 'https://ca.test/acct/2'))).toBeUndefined();
    expect(caaRefusal(records, as('dns-01', 'https://ca.test/acct/1'))).toMatch(
      /only for another ACME account/,
    );
    expect(caaRefusal(records, as('tls-alpn-01', 'https://ca.test/acct/1'))).toMatch(
      /only by other validation methods/,
    );
  });

  it('says when the account URL is needed: only when a property naming this CA binds an account', () => {
    const bound = set(issue('a.test; accounturi=https://ca.test/acct/1'), issue('b.test'));
    expect(caaNamesAccount(bound, ask(['a.test']))).toBe(true);
    expect(caaNamesAccount(bound, ask(['b.test']))).toBe(false);
    // A wildcard is governed by issuewild when there is one, and the binding is on issue only.
    expect(caaNamesAccount(set(...bound.records, issue('a.test', 'issuewild')), ask(['a.test'], true))).toBe(
      false,
    );
  });

  it('a set with no issue property allows every CA; an unknown critical property none', () => {
    expect(caaRefusal(set(issue('mailto:x@example.com', 'iodef')), ask(['a.test']))).toBeUndefined();
    expect(caaRefusal(set(issue('a.test'), issue('v', 'futuretag', 128)), ask(['a.test']))).toMatch(
      /critical CAA property "futuretag"/,
    );
  });
});

describe('relevantCaa climbs to the first non-empty set (RFC 8659 §3)', () => {
  it('finds the parent’s set and stops there', async () => {
    const asked: string[] = [];
    const zone: Record<string, CaaRecord[]> = {
      'example.com': [issue('a.test')],
      com: [issue('never.test')],
    };
    const resolver = {
      resolveCaa: async (name: string) => {
        asked.push(name);
        return zone[name] ?? [];
      },
    };
    expect(await relevantCaa(resolver, 'www.shop.example.com')).toEqual({
      at: 'example.com',
      records: [issue('a.test')],
    });
    expect(asked).toEqual(['www.shop.example.com', 'shop.example.com', 'example.com']);
    expect(await relevantCaa({ resolveCaa: async () => [] }, 'a.b.test')).toBeUndefined();
  });

  it('asks about DNS names only, a wildcard by its base name', () => {
    expect(caaNames(parseIdentifiers(['*.example.com', 'example.com', '192.0.2.1']))).toEqual([
      { name: 'example.com', wildcard: true },
      { name: 'example.com', wildcard: false },
    ]);
  });
});

describe("the test DNS server reads Route53's CAA values", () => {
  it.each([
    ['0 issue "letsencrypt.org"', { flags: 0, tag: 'issue', value: 'letsencrypt.org' }],
    ['128 issuewild ";"', { flags: 128, tag: 'issuewild', value: ';' }],
    ['0 iodef "mailto:ops@example.com"', { flags: 0, tag: 'iodef', value: 'mailto:ops@example.com' }],
    [
      '0 issue "ca.test; validationmethods=dns-01"',
      { flags: 0, tag: 'issue', value: 'ca.test; validationmethods=dns-01' },
    ],
  ])('%s', (value, expected) => expect(parseCaaValue(value)).toEqual(expected));

  it('refuses a value that is not flags, tag and value', () => {
    expect(() => parseCaaValue('issue letsencrypt.org')).toThrow(/not a CAA value/);
  });
});

import { describe, expect, it } from 'vitest';
import { parseDeploymentConfig } from '../../../shared/config/deployment.js';
import { ValidationError } from '../../../shared/model/errors.js';
import { casOf, parseRuntimeEnv } from '../../../shared/model/runtime-config.js';
import { caDirectoryUrl } from '../../../cli/directory-url.js';

function refusal(input: unknown): ValidationError {
  try {
    parseDeploymentConfig(input);
  } catch (err) {
    if (err instanceof ValidationError) return err;
    throw err;
  }
  throw new Error('accepted');
}

const LE = 'https://acme-v02.api.letsencrypt.org/directory';

describe('the deployment config names its CAs, preferred first', () => {
  it('resolves a fallback list with names, contacts and CAA identities', () => {
    const config = parseDeploymentConfig({
      cas: [
        { directory: 'letsencrypt', contact: 'ops@example.com' },
        {
          name: 'zerossl',
          directory: 'https://acme.zerossl.com/v2/DV90',
          contact: 'ops@example.com',
          eab: {
            kid: 'kid-1',
            hmacKeySecretArn: 'arn:aws:secretsmanager:us-east-1:123456789012:secret:zerossl',
          },
          caaIdentities: ['sectigo.com'],
        },
      ],
      caFallback: { afterFailures: 3 },
    });
    expect(config.cas).toEqual([
      { name: 'letsencrypt', directoryUrl: LE, contact: 'ops@example.com' },
      {
        name: 'zerossl',
        directoryUrl: 'https://acme.zerossl.com/v2/DV90',
        contact: 'ops@example.com',
        eab: {
          kid: 'kid-1',
          hmacKeySecretArn: 'arn:aws:secretsmanager:us-east-1:123456789012:secret:zerossl',
        },
        caaIdentities: ['sectigo.com'],
      },
    ]);
    expect(config.caFallback).toEqual({ afterFailures: 3, lifetimeShareLeft: 0.2 });
    expect(config.directoryUrl).toBe(LE);
  });

  it('keeps the single `ca` as a one-entry list, and Let’s Encrypt when neither is given', () => {
    expect(parseDeploymentConfig({ ca: { directory: 'letsencrypt-staging' } }).cas).toEqual([
      { name: 'letsencrypt-staging', directoryUrl: 'https://acme-staging-v02.api.letsencrypt.org/directory' },
    ]);
    expect(parseDeploymentConfig({}).cas).toEqual([{ name: 'letsencrypt', directoryUrl: LE }]);
  });

  it('refuses an empty CA list', () => {
    const error = refusal({ cas: [] });
    expect(error.field).toBe('config.cas');
    expect(error.message).toContain('is empty: list at least one CA, preferred first');
  });

  it('refuses a CA without contact, naming the entry', () => {
    const error = refusal({
      cas: [
        { directory: 'letsencrypt', contact: 'ops@example.com' },
        { directory: 'https://ca.example/dir' },
      ],
    });
    expect(error.field).toBe('config.cas[1].contact');
    expect(error.message).toContain('is missing: every CA in "cas" needs a contact address');
    expect(error.message).toContain('add "contact": "ops@example.com"');
  });

  it('refuses two CAs with one name, and `ca` beside `cas`', () => {
    const twice = refusal({
      cas: [
        { directory: 'https://ca.example/a', contact: 'ops@example.com', name: 'one' },
        { directory: 'https://ca.example/b', contact: 'ops@example.com', name: 'one' },
      ],
    });
    expect(twice.field).toBe('config.cas[1].name');
    expect(twice.fix).toMatch(/its own "name"/);
    const both = refusal({
      ca: { directory: 'letsencrypt' },
      cas: [{ directory: 'letsencrypt', contact: 'a@b.c' }],
    });
    expect(both.field).toBe('config.cas');
    expect(both.fix).toMatch(/move the "ca" entry into "cas"/);
  });
});

describe('the issuer reads its CAs from the environment', () => {
  const base = { CERTKEEPER_BUCKET: 'bucket', CERTKEEPER_TABLE: 'table', CERTKEEPER_DIRECTORY_URL: LE };

  it('one CA from the single-CA variables, named after its directory', () => {
    expect(casOf(parseRuntimeEnv({ ...base, CERTKEEPER_CONTACT: 'ops@example.com' }))).toEqual([
      { name: 'letsencrypt', directoryUrl: LE, contact: 'ops@example.com' },
    ]);
  });

  it('a list from CERTKEEPER_CAS; a broken one names the variable and the entry', () => {
    const cas = [{ name: 'b', directoryUrl: 'https://b.example/dir' }];
    expect(casOf(parseRuntimeEnv({ ...base, CERTKEEPER_CAS: JSON.stringify(cas) }))).toEqual(cas);
    expect(() => parseRuntimeEnv({ ...base, CERTKEEPER_CAS: '[{"name": "B!"}]' })).toThrow(
      /environment\.CERTKEEPER_CAS\[0\]\.name: must be lower-case/,
    );
    expect(() => parseRuntimeEnv({ ...base, CERTKEEPER_CAS: 'not json' })).toThrow(
      /CERTKEEPER_CAS.*is not JSON/,
    );
  });
});

describe('a CA directory is https:// (RFC 8555 §6.1), plain http only on this machine (issue 22)', () => {
  const base = { CERTKEEPER_BUCKET: 'bucket', CERTKEEPER_TABLE: 'table' };

  it('the config refuses an http:// directory elsewhere, in `ca` and in `cas`, and keeps a loopback one', () => {
    const single = refusal({ ca: { directory: 'http://acme.example.com/directory' } });
    expect(single.field).toBe('config.ca.directory');
    expect(single.message).toMatch(/must be an https:\/\/ URL \(ACME runs over HTTPS, RFC 8555 §6\.1/);
    const listed = refusal({
      cas: [
        { directory: 'letsencrypt', contact: 'ops@example.com' },
        { directory: 'http://acme.example.com/dir' },
      ],
    });
    expect(listed.field).toBe('config.cas[1].directory');
    for (const local of [
      'http://127.0.0.1:14000/dir',
      'http://localhost:14000/dir',
      'http://[::1]:14000/dir',
    ]) {
      expect(parseDeploymentConfig({ ca: { directory: local } }).directoryUrl).toBe(local);
    }
  });

  it('the environment refuses one too, in CERTKEEPER_DIRECTORY_URL and in CERTKEEPER_CAS', () => {
    expect(() =>
      parseRuntimeEnv({ ...base, CERTKEEPER_DIRECTORY_URL: 'http://acme.example.com/dir' }),
    ).toThrow(/CERTKEEPER_DIRECTORY_URL: must be an https:\/\/ URL/);
    const cas = [{ name: 'b', directoryUrl: 'http://b.example/dir' }];
    expect(() =>
      parseRuntimeEnv({ ...base, CERTKEEPER_DIRECTORY_URL: LE, CERTKEEPER_CAS: JSON.stringify(cas) }),
    ).toThrow(/CERTKEEPER_CAS\[0\]\.directoryUrl: must be an https:\/\/ URL/);
  });

  it('--directory-url refuses one, naming the flag', () => {
    expect(() => caDirectoryUrl('http://acme.example.com/dir')).toThrow(
      /--directory-url: http:\/\/acme\.example\.com\/dir is not https:\/\/ \(ACME runs over HTTPS/,
    );
    expect(caDirectoryUrl('http://127.0.0.1:14000/dir')).toBe('http://127.0.0.1:14000/dir');
    expect(caDirectoryUrl('letsencrypt')).toBe(LE);
  });
});

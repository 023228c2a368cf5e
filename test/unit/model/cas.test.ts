import { describe, expect, it } from 'vitest';
import { parseDeploymentConfig } from '../../../shared/model/config.js';
import { ValidationError } from '../../../shared/model/errors.js';
import { casOf, parseRuntimeEnv } from '../../../shared/model/runtime-config.js';

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

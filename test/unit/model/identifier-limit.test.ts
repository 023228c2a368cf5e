/**
 * A certificate with more identifiers than the CA signs in one certificate would fail at
 * every newOrder: it is refused where it is declared, in the config and through the spec
 * parser `certkeeper add` uses, with the limit named.
 */
import { describe, expect, it } from 'vitest';
import { parseDeploymentConfig } from '../../../shared/config/deployment.js';
import { ValidationError } from '../../../shared/model/errors.js';
import { identifierLimit, parseCertificateSpec } from '../../../shared/model/spec.js';

const names = (n: number, suffix = 'example.com') => Array.from({ length: n }, (_, i) => `h${i}.${suffix}`);
const ips = (n: number) => Array.from({ length: n }, (_, i) => `203.0.113.${i + 1}`);

function refusal(fn: () => unknown): ValidationError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(ValidationError);
    return err as ValidationError;
  }
  throw new Error('was accepted');
}

describe('the identifier limit', () => {
  it('is 100 by default and 25 on shortlived and tlsserver', () => {
    expect(identifierLimit(undefined)).toBe(100);
    expect(identifierLimit('classic')).toBe(100);
    expect(identifierLimit('shortlived')).toBe(25);
    expect(identifierLimit('tlsserver')).toBe(25);
  });

  it('accepts exactly the limit', () => {
    expect(parseCertificateSpec({ name: 'a', identifiers: names(100) }).identifiers).toHaveLength(100);
    expect(parseCertificateSpec({ name: 'b', identifiers: ips(25) }).identifiers).toHaveLength(25);
    expect(
      parseCertificateSpec({ name: 'c', identifiers: names(25), profile: 'tlsserver' }).identifiers,
    ).toHaveLength(25);
  });

  it('refuses 101 names, naming the field, the limit and the fix', () => {
    const error = refusal(() => parseCertificateSpec({ name: 'big', identifiers: names(101) }));
    expect(error.field).toBe('certificate.identifiers');
    expect(error.message).toMatch(/lists 101 identifiers, but the CA signs at most 100 in one certificate/);
    expect(error.fix).toBe('split it into certificates of at most 100 identifiers each');
  });

  it('refuses 26 on shortlived (chosen for IPs by default) and on tlsserver, naming the profile', () => {
    const ip = refusal(() => parseCertificateSpec({ name: 'ips', identifiers: ips(26) }));
    expect(ip.message).toMatch(
      /lists 26 identifiers, but the CA signs at most 25 .* on the shortlived profile/,
    );
    const tls = refusal(() =>
      parseCertificateSpec({ name: 'tls', identifiers: names(26), profile: 'tlsserver' }),
    );
    expect(tls.message).toMatch(/at most 25 .* on the tlsserver profile/);
    expect(tls.fix).toBe('split it into certificates of at most 25 identifiers each');
  });

  it('refuses it in certkeeper.config.json, naming the certificate', () => {
    const error = refusal(() =>
      parseDeploymentConfig({
        hostedZones: [{ id: 'Z0123456789ABC' }],
        certificates: [
          { name: 'ok', identifiers: ['example.com'] },
          { name: 'wide', identifiers: names(30), profile: 'shortlived' },
        ],
      }),
    );
    expect(error.field).toBe('config.certificates[1] (wide).identifiers');
    expect(error.message).toMatch(/at most 25 .* on the shortlived profile/);
  });
});

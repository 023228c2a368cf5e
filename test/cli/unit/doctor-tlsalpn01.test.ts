/**
 * The part of doctor's tls-alpn-01 probe that judges a validation certificate as a CA does
 * (RFC 8737 §3), on certificates generated at run time: the real thing, and each way one can
 * be wrong. The network half runs against real servers in test/cli/doctor.test.ts.
 */
import { X509Certificate } from 'node:crypto';
import * as x509 from '@peculiar/x509';
import { describe, expect, it } from 'vitest';
import { validationProblem } from '../../../cli/doctor/tlsalpn01.js';
import { parseIdentifier } from '../../../shared/model/identifiers.js';
import { DerError } from '../../../shared/pki/der.js';
import { selfSignedPair } from '../../../shared/pki/self-signed.js';
import {
  ACME_IDENTIFIER_OID,
  acmeIdentifierValue,
  readAcmeIdentifier,
  tlsAlpn01Certificate,
} from '../../../shared/pki/tls-alpn.js';

const KEY_AUTHORIZATION = 'probe-token.certkeeper-doctor-probe';

const validation = async (identifier: string, keyAuthorization = KEY_AUTHORIZATION) =>
  new X509Certificate(
    (await tlsAlpn01Certificate(parseIdentifier(identifier), keyAuthorization, new Date())).certPem,
  );

/** A self-signed certificate with these SANs and extensions, as another server might send. */
async function other(identifiers: string[], extensions: x509.Extension[] = []): Promise<X509Certificate> {
  const now = Date.now();
  const { certPem } = await selfSignedPair({
    identifiers,
    name: 'CN=web',
    notBefore: new Date(now - 60_000),
    notAfter: new Date(now + 3_600_000),
    extensions,
  });
  return new X509Certificate(certPem);
}

describe('readAcmeIdentifier', () => {
  it('reads the critical acmeIdentifier extension of a validation certificate', async () => {
    const cert = await validation('127.0.0.1');
    expect(readAcmeIdentifier(cert.raw)).toEqual({
      critical: true,
      value: acmeIdentifierValue(KEY_AUTHORIZATION),
    });
  });

  it('tells a non-critical extension apart, and gives undefined when there is none', async () => {
    const plain = await other(['www.example.test']);
    expect(readAcmeIdentifier(plain.raw)).toBeUndefined();
    const value = acmeIdentifierValue(KEY_AUTHORIZATION);
    const soft = await other(['www.example.test'], [new x509.Extension(ACME_IDENTIFIER_OID, false, value)]);
    expect(readAcmeIdentifier(soft.raw)).toEqual({ critical: false, value });
  });

  it('throws a DerError for bytes that are not a certificate', async () => {
    const cert = await validation('www.example.test');
    expect(() => readAcmeIdentifier(cert.raw.subarray(0, 40))).toThrow(DerError);
    expect(() => readAcmeIdentifier(Buffer.from([0x04, 0x00]))).toThrow(DerError);
  });
});

describe('validationProblem (RFC 8737 §3)', () => {
  it('accepts the validation certificate certkeeper makes, for a DNS name, an IPv4 and an IPv6 address', async () => {
    for (const identifier of ['www.example.test', '127.0.0.1', '2001:db8::1']) {
      const cert = await validation(identifier);
      expect(
        validationProblem(cert, parseIdentifier(identifier), KEY_AUTHORIZATION),
        identifier,
      ).toBeUndefined();
    }
  });

  it('rejects one made for another key authorization: not this probe', async () => {
    const cert = await validation('127.0.0.1', 'real-order-token.some-account-thumbprint');
    expect(validationProblem(cert, parseIdentifier('127.0.0.1'), KEY_AUTHORIZATION)).toMatch(
      /another key authorization, not this probe's/,
    );
  });

  it('rejects one for another name, or with a second SAN', async () => {
    const cert = await validation('127.0.0.2');
    expect(validationProblem(cert, parseIdentifier('127.0.0.1'), KEY_AUTHORIZATION)).toBe(
      'sent a certificate for subjectAltName IP Address:127.0.0.2, not for 127.0.0.1 alone',
    );
    const ext = new x509.Extension(ACME_IDENTIFIER_OID, true, acmeIdentifierValue(KEY_AUTHORIZATION));
    const two = await other(['www.example.test', 'api.example.test'], [ext]);
    expect(validationProblem(two, parseIdentifier('www.example.test'), KEY_AUTHORIZATION)).toMatch(
      /^sent a certificate for subjectAltName DNS:www\.example\.test, DNS:api\.example\.test, not for www\.example\.test alone$/,
    );
    // A DNS name is not an IP address even when the text would match elsewhere.
    const dns = await validation('www.example.test');
    expect(validationProblem(dns, parseIdentifier('127.0.0.1'), KEY_AUTHORIZATION)).toMatch(
      /not for 127\.0\.0\.1/,
    );
  });

  it("rejects a web server's ordinary certificate, and one whose extension is not critical", async () => {
    const web = await other(['www.example.test']);
    expect(validationProblem(web, parseIdentifier('www.example.test'), KEY_AUTHORIZATION)).toBe(
      'sent a certificate without the acmeIdentifier extension (1.3.6.1.5.5.7.1.31)',
    );
    const ext = new x509.Extension(ACME_IDENTIFIER_OID, false, acmeIdentifierValue(KEY_AUTHORIZATION));
    const soft = await other(['www.example.test'], [ext]);
    expect(validationProblem(soft, parseIdentifier('www.example.test'), KEY_AUTHORIZATION)).toBe(
      'sent a certificate whose acmeIdentifier extension is not critical',
    );
  });
});

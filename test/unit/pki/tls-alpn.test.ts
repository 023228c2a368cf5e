import { createHash, createPrivateKey, X509Certificate as NodeCertificate } from 'node:crypto';
import * as x509 from '@peculiar/x509';
import { describe, expect, it } from 'vitest';
import { parseIdentifier } from '../../../shared/model/identifiers.js';
import {
  ACME_IDENTIFIER_OID,
  acmeIdentifierValue,
  sniFor,
  tlsAlpn01Certificate,
} from '../../../shared/pki/tls-alpn.js';

const KEY_AUTHORIZATION =
  'evaGxfADs6pSRb2LAv9IZf17Dt3juxGJ-PCt92wr-oA.9jg46WB3rR_AHD-EBXdN7cBkH1WOu0tA3M9fm21mqTI';
const digest = createHash('sha256').update(KEY_AUTHORIZATION).digest();

describe('the tls-alpn-01 validation certificate (RFC 8737 §3)', () => {
  it('carries the acmeIdentifier extension 1.3.6.1.5.5.7.1.31, critical, OCTET STRING of SHA-256(key authorization)', async () => {
    const { certPem } = await tlsAlpn01Certificate(
      parseIdentifier('www.example.test'),
      KEY_AUTHORIZATION,
      new Date(),
    );
    const cert = new x509.X509Certificate(certPem);
    expect(ACME_IDENTIFIER_OID).toBe('1.3.6.1.5.5.7.1.31');
    const ext = cert.getExtension(ACME_IDENTIFIER_OID);
    expect(ext).not.toBeNull();
    expect(ext!.critical).toBe(true);
    // DER: tag 0x04 (OCTET STRING), length 32, then the digest itself.
    expect(Buffer.from(ext!.value).toString('hex')).toBe(`0420${digest.toString('hex')}`);
    expect(acmeIdentifierValue(KEY_AUTHORIZATION).equals(Buffer.concat([Buffer.from([4, 32]), digest]))).toBe(
      true,
    );
  });

  it('names the DNS identifier as its only SAN, is self-signed, and holds no subject name', async () => {
    const { certPem, keyPem } = await tlsAlpn01Certificate(
      parseIdentifier('www.example.test'),
      KEY_AUTHORIZATION,
      new Date(),
    );
    const cert = new NodeCertificate(certPem);
    expect(cert.subjectAltName).toBe('DNS:www.example.test');
    expect(cert.subject ?? '').toBe('');
    expect(cert.verify(cert.publicKey)).toBe(true);
    expect(cert.checkPrivateKey(createPrivateKey(keyPem))).toBe(true);
    const now = Date.now();
    expect(new Date(cert.validFrom).getTime()).toBeLessThan(now);
    expect(new Date(cert.validTo).getTime()).toBeGreaterThan(now + 24 * 3600 * 1000);
  });

  it('names an IP identifier as an iPAddress SAN (RFC 8738 §6), with a key of its own each time', async () => {
    const ip = parseIdentifier('127.0.0.1');
    const [a, b] = await Promise.all([
      tlsAlpn01Certificate(ip, KEY_AUTHORIZATION, new Date()),
      tlsAlpn01Certificate(ip, KEY_AUTHORIZATION, new Date()),
    ]);
    expect(new NodeCertificate(a.certPem).subjectAltName).toBe('IP Address:127.0.0.1');
    expect(a.keyPem).not.toBe(b.keyPem);
    const v6 = await tlsAlpn01Certificate(parseIdentifier('2001:db8::1'), KEY_AUTHORIZATION, new Date());
    expect(new NodeCertificate(v6.certPem).subjectAltName).toBe('IP Address:2001:DB8:0:0:0:0:0:1');
  });

  it('gives the SNI name the CA sends: the DNS name, or the reverse-DNS name of an IP (RFC 8738 §6)', () => {
    expect(sniFor(parseIdentifier('WWW.Example.test'))).toBe('www.example.test');
    expect(sniFor(parseIdentifier('192.0.2.10'))).toBe('10.2.0.192.in-addr.arpa');
    // RFC 8738 §6 example form: nibbles of the expanded address, least significant first.
    expect(sniFor(parseIdentifier('2001:db8::1'))).toBe(
      '1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa',
    );
    expect(sniFor(parseIdentifier('::ffff:c000:20a'))).toBe(
      'a.0.2.0.0.0.0.c.f.f.f.f.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.ip6.arpa',
    );
  });
});

import { createHash } from 'node:crypto';
import { isIP } from 'node:net';
import type { Identifier } from '../model/identifiers.js';
import { type CertificateExtension, certificateExtensions } from './certificate.js';
import { ipBytes } from './der.js';
import type { SelfSignedPair } from './self-signed.js';

/** RFC 8737 §6.1: id-pe-acmeIdentifier. */
export const ACME_IDENTIFIER_OID = '1.3.6.1.5.5.7.1.31';
/** RFC 8737 §6.2: the only protocol a validation connection negotiates. */
export const ACME_TLS_ALPN = 'acme-tls/1';

/** A CA validates within minutes; the week covers a pending authorization's lifetime. */
const VALIDITY_MS = 7 * 24 * 3600 * 1000;

/**
 * RFC 8737 §3: the extension value is the DER encoding of
 * `Authorization ::= OCTET STRING (SIZE (32))`, the SHA-256 digest of the key authorization.
 */
export function acmeIdentifierValue(keyAuthorization: string): Buffer {
  const digest = createHash('sha256').update(keyAuthorization, 'utf8').digest();
  return Buffer.concat([Buffer.from([0x04, digest.length]), digest]);
}

/**
 * The acmeIdentifier extension of a DER certificate, where a validator looks for it (RFC 8737
 * §3): extnValue's content is acmeIdentifierValue() of the key authorization when it is
 * well formed. Undefined when the certificate has none; a DerError when it is malformed.
 */
export function readAcmeIdentifier(certDer: Buffer): CertificateExtension | undefined {
  return certificateExtensions(certDer).get(ACME_IDENTIFIER_OID);
}

/**
 * The server name the CA sends for an identifier: the DNS name itself (RFC 8737 §3), or for
 * an IP address its reverse-DNS name (RFC 8738 §6: in-addr.arpa, or ip6.arpa by nibble),
 * without the trailing dot, as SNI carries it (RFC 6066 §3).
 */
export function sniFor(identifier: Identifier): string {
  if (identifier.type === 'dns') return identifier.value.toLowerCase();
  if (isIP(identifier.value) === 4) return `${identifier.value.split('.').reverse().join('.')}.in-addr.arpa`;
  const nibbles = ipBytes(identifier.value).toString('hex').split('').reverse().join('.');
  return `${nibbles}.ip6.arpa`;
}

/**
 * RFC 8737 §3 validation certificate: self-signed with a throwaway key (never the key of the
 * certificate being ordered), its only SAN the identifier (dNSName, or iPAddress per RFC
 * 8738 §6), and the critical acmeIdentifier extension. The subject is empty: the SAN is the
 * one name a validator may look at (and then is critical, RFC 5280 §4.2.1.6).
 */
export async function tlsAlpn01Certificate(
  identifier: Identifier,
  keyAuthorization: string,
  /** From the caller's Clock: the certificate is valid from an hour before it. */
  now: Date,
): Promise<SelfSignedPair> {
  // Loaded on first use: @peculiar/x509 and its ASN.1 stack are most of what a CLI process
  // would otherwise load at start, and only tls-alpn-01 needs them.
  const [{ selfSignedPair }, x509] = await Promise.all([
    import('./self-signed.js'),
    import('@peculiar/x509'),
  ]);
  return selfSignedPair({
    identifiers: [identifier.value],
    name: '',
    notBefore: new Date(now.getTime() - 3600 * 1000),
    notAfter: new Date(now.getTime() + VALIDITY_MS),
    extensions: [new x509.Extension(ACME_IDENTIFIER_OID, true, acmeIdentifierValue(keyAuthorization))],
  });
}

import { createPublicKey, type KeyObject } from 'node:crypto';
import acme from 'acme-client';
import { ValidationError } from '../model/errors.js';
import type { Identifier } from '../model/identifiers.js';
import { TAG, expectConstructed, readTlv } from './der.js';
import { pemToDer } from './pem.js';

/**
 * A PKCS#10 request naming the identifiers as subjectAltName entries only: DNS names as
 * dNSName and IPs as iPAddress (RFC 8738 §3). The subject is left empty: Let's Encrypt
 * refuses an IP in the Common Name (badCSR), and its tlsserver/shortlived profiles carry no
 * CN anyway; RFC 8555 §7.4 only requires the identifiers to appear in the CSR.
 */
export async function createCsr(identifiers: readonly Identifier[], keyPem: string): Promise<string> {
  if (identifiers.length === 0) {
    throw new ValidationError('identifiers', 'is empty', 'list at least one DNS name or IP address');
  }
  // acme-client writes an iPAddress SAN for anything node:net recognises as an IP and a
  // dNSName otherwise, which matches our identifier types one to one.
  const [, csr] = await acme.crypto.createCsr({ altNames: identifiers.map((i) => i.value) }, keyPem);
  return csr.toString();
}

/** The public key inside a PKCS#10 request (RFC 2986 §4.1), to match it against a certificate. */
export function csrPublicKey(csrPem: string): KeyObject {
  const der = pemToDer(csrPem, 'CERTIFICATE REQUEST');
  const [info] = expectConstructed(readTlv(der), TAG.SEQUENCE, 'CertificationRequest');
  // CertificationRequestInfo ::= SEQUENCE { version, subject, subjectPKInfo, attributes }
  const [, , spki] = expectConstructed(info, TAG.SEQUENCE, 'CertificationRequestInfo');
  if (!spki || spki.tag !== TAG.SEQUENCE)
    throw new ValidationError('csr', 'has no public key', 'pass a PKCS#10 CSR');
  return createPublicKey({ key: spki.raw, format: 'der', type: 'spki' });
}

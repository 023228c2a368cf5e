import { type KeyObject, createPrivateKey, createPublicKey, sign } from 'node:crypto';
import { ValidationError } from '../model/errors.js';
import type { Identifier } from '../model/identifiers.js';
import {
  TAG,
  contextConstructed,
  contextPrimitive,
  encodeBitString,
  encodeOctetString,
  encodeOid,
  encodeSequence,
  encodeSmallInteger,
  encodeTlv,
  expectConstructed,
  ipBytes,
  readTlv,
} from './der.js';
import { pemToDer } from './pem.js';

const OID_EXTENSION_REQUEST = '1.2.840.113549.1.9.14'; // PKCS#9, RFC 2985 §5.4.2
const OID_KEY_USAGE = '2.5.29.15';
const OID_SUBJECT_ALT_NAME = '2.5.29.17';

/** The signature a key makes over a request: digest and AlgorithmIdentifier (RFC 5758, RFC 4055). */
export function signatureAlgorithm(key: KeyObject): { digest: string; algorithm: Buffer } {
  if (key.asymmetricKeyType === 'rsa') {
    // sha256WithRSAEncryption, parameters NULL (RFC 4055 §5).
    return {
      digest: 'sha256',
      algorithm: encodeSequence(encodeOid('1.2.840.113549.1.1.11'), Buffer.from([5, 0])),
    };
  }
  const curve = key.asymmetricKeyType === 'ec' ? key.asymmetricKeyDetails?.namedCurve : undefined;
  // ecdsa-with-SHA256/384/512, parameters absent (RFC 5758 §3.2); the digest matches the curve.
  const ec = { prime256v1: ['sha256', '2'], secp384r1: ['sha384', '3'], secp521r1: ['sha512', '4'] } as const;
  const match = curve !== undefined && curve in ec ? ec[curve as keyof typeof ec] : undefined;
  if (!match) {
    throw new ValidationError(
      'key',
      `a ${key.asymmetricKeyType ?? 'unknown'} key${curve ? ` on ${curve}` : ''} cannot sign the request`,
      'use an RSA or ECDSA P-256/P-384 key',
    );
  }
  return { digest: match[0], algorithm: encodeSequence(encodeOid(`1.2.840.10045.4.3.${match[1]}`)) };
}

/**
 * A PKCS#10 request (RFC 2986) naming the identifiers as subjectAltName entries only: DNS
 * names as dNSName and IPs as iPAddress (RFC 8738 §3). The subject is left empty: Let's
 * Encrypt refuses an IP in the Common Name (badCSR), and its tlsserver/shortlived profiles
 * carry no CN anyway; RFC 8555 §7.4 only requires the identifiers to appear in the CSR. The
 * key usage asked for is digitalSignature and keyEncipherment (what acme-client's CSR, used
 * before, asked); CAs set their own. Built with node:crypto and der.ts: no ASN.1 library.
 */
export async function createCsr(identifiers: readonly Identifier[], keyPem: string): Promise<string> {
  if (identifiers.length === 0) {
    throw new ValidationError('identifiers', 'is empty', 'list at least one DNS name or IP address');
  }
  const key = createPrivateKey(keyPem);
  const { digest, algorithm } = signatureAlgorithm(key);
  // GeneralName (RFC 5280 §4.2.1.6): dNSName [2] IA5String, iPAddress [7] OCTET STRING.
  const names = identifiers.map((i) =>
    i.type === 'ip'
      ? encodeTlv(contextPrimitive(7), ipBytes(i.value))
      : encodeTlv(contextPrimitive(2), Buffer.from(i.value, 'ascii')),
  );
  const extensions = encodeSequence(
    // KeyUsage BIT STRING: digitalSignature (bit 0) | keyEncipherment (bit 2), 5 unused bits.
    encodeSequence(encodeOid(OID_KEY_USAGE), encodeOctetString(encodeBitString(Buffer.from([0xa0]), 5))),
    encodeSequence(encodeOid(OID_SUBJECT_ALT_NAME), encodeOctetString(encodeSequence(...names))),
  );
  const info = encodeSequence(
    encodeSmallInteger(0), // version v1
    encodeSequence(), // subject: the empty Name
    createPublicKey(key).export({ type: 'spki', format: 'der' }),
    // attributes [0] IMPLICIT SET OF Attribute: one extensionRequest holding the extensions.
    encodeTlv(
      contextConstructed(0),
      encodeSequence(encodeOid(OID_EXTENSION_REQUEST), encodeTlv(TAG.SET, extensions)),
    ),
  );
  // ECDSA signatures come DER-encoded (node's default dsaEncoding), as X.509 wants them.
  const signature = sign(digest, info, key);
  const der = encodeSequence(info, algorithm, encodeBitString(signature));
  const base64 = der.toString('base64').replace(/.{64}/g, '$&\n');
  return `-----BEGIN CERTIFICATE REQUEST-----\n${base64}${base64.endsWith('\n') ? '' : '\n'}-----END CERTIFICATE REQUEST-----\n`;
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

import { X509Certificate, createHash, randomBytes } from 'node:crypto';
import {
  TAG,
  contextConstructed,
  children,
  contextPrimitive,
  decodeOid,
  decodeTime,
  encodeBitString,
  encodeOctetString,
  encodeOid,
  encodeSequence,
  encodeSmallInteger,
  encodeTlv,
  expectConstructed,
  readTlv,
} from '../pki/der.js';
import { canonicalSerial } from '../model/agent.js';
import { pemToDer } from '../pki/pem.js';
import type { CaSigner } from './signer.js';

/**
 * The few X.509 structures the agents' CA signs (RFC 5280): its own certificate, the agents'
 * client certificates and its CRL. Built with der.ts and signed through the CaSigner port,
 * so the same code runs with a KMS key (which signs digests, never exports the key) and with
 * a key in memory. IAM Roles Anywhere reads them: an end-entity certificate must be v3,
 * CA:false, with digitalSignature; the trust anchor CA:true with keyCertSign (its docs,
 * "Trust model").
 */

const OID = {
  ecdsaWithSha256: '1.2.840.10045.4.3.2', // RFC 5758 §3.2
  commonName: '2.5.4.3',
  organization: '2.5.4.10',
  subjectKeyIdentifier: '2.5.29.14',
  keyUsage: '2.5.29.15',
  basicConstraints: '2.5.29.19',
  crlNumber: '2.5.29.20',
  authorityKeyIdentifier: '2.5.29.35',
  extKeyUsage: '2.5.29.37',
  clientAuth: '1.3.6.1.5.5.7.3.2',
} as const;

/** AlgorithmIdentifier for ecdsa-with-SHA256: parameters absent (RFC 5758 §3.2). */
const SIGNATURE_ALGORITHM = encodeSequence(encodeOid(OID.ecdsaWithSha256));

/** Name ::= RDNSequence, here O=certkeeper then CN (RFC 5280 §4.1.2.4), UTF8String values. */
export function encodeName(commonName: string, organization = 'certkeeper'): Buffer {
  const rdn = (oid: string, value: string) =>
    encodeTlv(TAG.SET, encodeSequence(encodeOid(oid), encodeTlv(0x0c, Buffer.from(value, 'utf8'))));
  return encodeSequence(rdn(OID.organization, organization), rdn(OID.commonName, commonName));
}

/** UTCTime through 2049, GeneralizedTime after (RFC 5280 §4.1.2.5). */
function encodeTime(at: Date): Buffer {
  const iso = at.toISOString().replace(/\.\d{3}Z$/, 'Z');
  const digits = iso.replace(/[-:T]/g, '');
  return at.getUTCFullYear() < 2050
    ? encodeTlv(TAG.UTC_TIME, Buffer.from(digits.slice(2), 'latin1'))
    : encodeTlv(TAG.GENERALIZED_TIME, Buffer.from(digits, 'latin1'));
}

/** A positive INTEGER from hex (a leading 00 where the top bit is set, X.690 §8.3). */
function encodeSerial(hex: string): Buffer {
  let bytes = Buffer.from(hex.length % 2 ? `0${hex}` : hex, 'hex');
  if (bytes[0]! & 0x80) bytes = Buffer.concat([Buffer.from([0]), bytes]);
  return encodeTlv(TAG.INTEGER, bytes);
}

/** 127 random bits: positive, at most 20 octets (RFC 5280 §4.1.2.2), unguessable. */
export function newSerial(): string {
  const bytes = randomBytes(16);
  bytes[0] = (bytes[0]! & 0x7f) | 0x01;
  return canonicalSerial(bytes.toString('hex'));
}

const extension = (oid: string, critical: boolean, value: Buffer): Buffer =>
  encodeSequence(
    encodeOid(oid),
    ...(critical ? [encodeTlv(TAG.BOOLEAN, Buffer.from([0xff]))] : []),
    encodeOctetString(value),
  );

/** RFC 5280 §4.2.1.2 method (1): SHA-1 of the subjectPublicKey BIT STRING's bits. */
export function keyIdentifier(spki: Buffer): Buffer {
  const [, key] = expectConstructed(readTlv(spki), TAG.SEQUENCE, 'SubjectPublicKeyInfo');
  return createHash('sha1').update(key!.value.subarray(1)).digest();
}

const authorityKeyIdentifier = (caSpki: Buffer): Buffer =>
  extension(
    OID.authorityKeyIdentifier,
    false,
    encodeSequence(encodeTlv(contextPrimitive(0), keyIdentifier(caSpki))),
  );

async function signed(tbs: Buffer, signer: CaSigner, label: 'CERTIFICATE' | 'X509 CRL'): Promise<string> {
  const der = encodeSequence(tbs, SIGNATURE_ALGORITHM, encodeBitString(await signer.sign(tbs)));
  const base64 = der.toString('base64').replace(/.{64}/g, '$&\n');
  return `-----BEGIN ${label}-----\n${base64}${base64.endsWith('\n') ? '' : '\n'}-----END ${label}-----\n`;
}

interface CertificateFields {
  serial: string;
  issuer: Buffer;
  subject: Buffer;
  notBefore: Date;
  notAfter: Date;
  /** SubjectPublicKeyInfo DER. */
  subjectKey: Buffer;
  extensions: Buffer[];
}

function tbsCertificate(f: CertificateFields): Buffer {
  return encodeSequence(
    encodeTlv(contextConstructed(0), encodeSmallInteger(2)), // v3
    encodeSerial(f.serial),
    SIGNATURE_ALGORITHM,
    f.issuer,
    encodeSequence(encodeTime(f.notBefore), encodeTime(f.notAfter)),
    f.subject,
    f.subjectKey,
    encodeTlv(contextConstructed(3), encodeSequence(...f.extensions)),
  );
}

/**
 * The CA's self-signed certificate: CA:true with pathLenConstraint 0 (it signs agents, never
 * another CA), keyCertSign and cRLSign, both critical (RFC 5280 §4.2.1.9, §4.2.1.3).
 */
export async function caCertificate(
  signer: CaSigner,
  options: { commonName: string; notBefore: Date; notAfter: Date; serial?: string },
): Promise<string> {
  const spki = await signer.publicKey();
  const name = encodeName(options.commonName);
  return signed(
    tbsCertificate({
      serial: options.serial ?? newSerial(),
      issuer: name,
      subject: name,
      notBefore: options.notBefore,
      notAfter: options.notAfter,
      subjectKey: spki,
      extensions: [
        extension(
          OID.basicConstraints,
          true,
          encodeSequence(encodeTlv(TAG.BOOLEAN, Buffer.from([0xff])), encodeSmallInteger(0)),
        ),
        // keyCertSign (bit 5) | cRLSign (bit 6): 0x06, one unused bit.
        extension(OID.keyUsage, true, encodeBitString(Buffer.from([0x06]), 1)),
        extension(OID.subjectKeyIdentifier, false, encodeOctetString(keyIdentifier(spki))),
      ],
    }),
    signer,
    'CERTIFICATE',
  );
}

/**
 * An agent's client certificate: subject O=certkeeper, CN=<agent name> (Roles Anywhere makes
 * the CN the session's source identity and the principal tag x509Subject/CN, which the agent
 * role's policies read), CA:false, digitalSignature, clientAuth.
 */
export async function agentCertificate(
  signer: CaSigner,
  caPem: string,
  options: { agent: string; subjectKey: Buffer; serial: string; notBefore: Date; notAfter: Date },
): Promise<string> {
  const caSpki = await signer.publicKey();
  return signed(
    tbsCertificate({
      serial: options.serial,
      issuer: subjectOf(caPem),
      subject: encodeName(options.agent),
      notBefore: options.notBefore,
      notAfter: options.notAfter,
      subjectKey: options.subjectKey,
      extensions: [
        extension(OID.basicConstraints, true, encodeSequence()),
        // digitalSignature (bit 0): 0x80, seven unused bits.
        extension(OID.keyUsage, true, encodeBitString(Buffer.from([0x80]), 7)),
        extension(OID.extKeyUsage, false, encodeSequence(encodeOid(OID.clientAuth))),
        extension(OID.subjectKeyIdentifier, false, encodeOctetString(keyIdentifier(options.subjectKey))),
        authorityKeyIdentifier(caSpki),
      ],
    }),
    signer,
    'CERTIFICATE',
  );
}

/**
 * The CA's CRL (RFC 5280 §5.1): v2, the revoked serials with their revocation times, the
 * authority key identifier and a CRL number that only grows (§5.2.3).
 */
export async function certificateRevocationList(
  signer: CaSigner,
  caPem: string,
  options: {
    number: number;
    thisUpdate: Date;
    nextUpdate: Date;
    revoked: readonly { serial: string; at: Date }[];
  },
): Promise<string> {
  const caSpki = await signer.publicKey();
  const entries = options.revoked.map((r) => encodeSequence(encodeSerial(r.serial), encodeTime(r.at)));
  const tbs = encodeSequence(
    encodeSmallInteger(1), // v2
    SIGNATURE_ALGORITHM,
    subjectOf(caPem),
    encodeTime(options.thisUpdate),
    encodeTime(options.nextUpdate),
    // revokedCertificates is absent, not empty, when nothing is revoked (§5.1.2.6).
    ...(entries.length ? [encodeSequence(...entries)] : []),
    encodeTlv(
      contextConstructed(0),
      encodeSequence(
        authorityKeyIdentifier(caSpki),
        extension(OID.crlNumber, false, encodeTlv(TAG.INTEGER, integerBytes(options.number))),
      ),
    ),
  );
  return signed(tbs, signer, 'X509 CRL');
}

/** The subject Name DER of a certificate: the issuer of what it signs, byte for byte. */
export function subjectOf(certPem: string): Buffer {
  const der = pemToDer(certPem, 'CERTIFICATE');
  const [tbs] = expectConstructed(readTlv(der), TAG.SEQUENCE, 'Certificate');
  const fields = expectConstructed(tbs, TAG.SEQUENCE, 'TBSCertificate');
  // version [0], serial, signature, issuer, validity, subject
  const offset = fields[0]?.tag === contextConstructed(0) ? 1 : 0;
  return fields[offset + 4]!.raw;
}

function integerBytes(n: number): Buffer {
  const hex = n.toString(16);
  let bytes = Buffer.from(hex.length % 2 ? `0${hex}` : hex, 'hex');
  if (bytes[0]! & 0x80) bytes = Buffer.concat([Buffer.from([0]), bytes]);
  return bytes;
}

/** The serial of a PEM certificate as lower-case hex without leading zeros. */
export const serialOf = (pem: string): string => canonicalSerial(new X509Certificate(pem).serialNumber);

/** What a CRL says (as certificateRevocationList writes it): its number, next update and revoked serials. */
export function readCrl(pem: string): {
  number: number | undefined;
  nextUpdate: Date | undefined;
  serials: string[];
} {
  const der = pemToDer(pem, 'X509 CRL');
  const [tbs] = expectConstructed(readTlv(der), TAG.SEQUENCE, 'CertificateList');
  const fields = expectConstructed(tbs, TAG.SEQUENCE, 'TBSCertList');
  let i = fields[0]?.tag === TAG.INTEGER ? 1 : 0; // version
  i += 3; // signature, issuer, thisUpdate
  let nextUpdate: Date | undefined;
  const next = fields[i];
  if (next && (next.tag === TAG.UTC_TIME || next.tag === TAG.GENERALIZED_TIME)) {
    nextUpdate = decodeTime(next);
    i++;
  }
  const serials: string[] = [];
  if (fields[i]?.tag === TAG.SEQUENCE) {
    for (const entry of children(fields[i]!.value)) {
      const [serial] = children(entry.value);
      serials.push(canonicalSerial(serial!.value.toString('hex')));
    }
    i++;
  }
  let number: number | undefined;
  if (fields[i]?.tag === contextConstructed(0)) {
    const [extensions] = children(fields[i]!.value);
    for (const ext of children(extensions!.value)) {
      const [oid, value] = children(ext.value);
      if (oid && decodeOid(oid.value) === OID.crlNumber && value) {
        number = Number.parseInt(readTlv(value.value).value.toString('hex'), 16);
      }
    }
  }
  return { number, nextUpdate, serials };
}

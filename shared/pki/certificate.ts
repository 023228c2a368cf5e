import { X509Certificate, createPrivateKey } from 'node:crypto';
import { IntegrityError } from '../model/errors.js';
import {
  DerError,
  TAG,
  type Tlv,
  children,
  contextConstructed,
  contextPrimitive,
  decodeOid,
  decodeTime,
  expectConstructed,
  readTlv,
} from './der.js';
import { csrPublicKey } from './csr.js';
import { pemToDer } from './pem.js';

/** What certkeeper reads from an issued certificate. */
export interface ParsedCertificate {
  /** Upper-case hex without the DER sign byte, as node's X509Certificate.serialNumber. */
  serialHex: string;
  /** The serial's DER content octets, WITH the sign byte 0x00 when the top bit is set. */
  serialDer: Buffer;
  notBefore: Date;
  notAfter: Date;
  dnsNames: string[];
  /** Canonical text form (RFC 5952 for IPv6). */
  ipAddresses: string[];
  hasCommonName: boolean;
  /** Issuer distinguished name as node prints it. */
  issuer: string;
  /** The Authority Key Identifier's keyIdentifier (RFC 5280 §4.2.1.1), when present. */
  aki: Buffer | undefined;
}

const OID_COMMON_NAME = '2.5.4.3';
const OID_SUBJECT_ALT_NAME = '2.5.29.17';
const OID_AUTHORITY_KEY_ID = '2.5.29.35';

export function parseCertificate(pem: string): ParsedCertificate {
  try {
    return parseDer(pemToDer(pem, 'CERTIFICATE'), new X509Certificate(pem).issuer);
  } catch (err) {
    if (err instanceof IntegrityError) throw err;
    throw new IntegrityError(
      `the certificate cannot be parsed: ${err instanceof Error ? err.message : String(err)}`,
      'check that the file holds an X.509 certificate in PEM form',
    );
  }
}

function parseDer(der: Buffer, issuer: string): ParsedCertificate {
  const [tbs] = expectConstructed(readTlv(der), TAG.SEQUENCE, 'Certificate');
  const fields = expectConstructed(tbs, TAG.SEQUENCE, 'TBSCertificate');
  // RFC 5280 §4.1: version is [0] EXPLICIT and absent for v1 certificates.
  let i = fields[0]?.tag === contextConstructed(0) ? 1 : 0;
  const serial = fields[i++];
  if (!serial || serial.tag !== TAG.INTEGER)
    throw new IntegrityError('certificate has no serial', 'check the file');
  i++; // signature AlgorithmIdentifier
  i++; // issuer Name (node formats it for us)
  const [notBefore, notAfter] = expectConstructed(fields[i++], TAG.SEQUENCE, 'Validity');
  const subject = fields[i++];
  const extensions = findExtensions(fields.slice(i + 1));

  const san = extensions.get(OID_SUBJECT_ALT_NAME)?.value;
  const names = san ? parseSubjectAltName(san) : { dnsNames: [], ipAddresses: [] };
  const akiValue = extensions.get(OID_AUTHORITY_KEY_ID)?.value;

  return {
    serialHex: serialHex(serial.value),
    serialDer: Buffer.from(serial.value),
    notBefore: decodeTime(notBefore!),
    notAfter: decodeTime(notAfter!),
    ...names,
    hasCommonName: subject ? nameHasAttribute(subject, OID_COMMON_NAME) : false,
    issuer,
    aki: akiValue ? parseAuthorityKeyId(akiValue) : undefined,
  };
}

/** node's format: upper-case hex of the magnitude, the sign byte dropped. */
function serialHex(content: Buffer): string {
  let start = 0;
  while (start < content.length - 1 && content[start] === 0) start++;
  return content.subarray(start).toString('hex').toUpperCase();
}

/** One extension of a certificate: its criticality and extnValue's content. */
export interface CertificateExtension {
  critical: boolean;
  value: Buffer;
}

/**
 * extnID → the extension, for a DER certificate (for what node's X509Certificate does not
 * expose, such as RFC 8737's acmeIdentifier). Throws a DerError when it is malformed.
 */
export function certificateExtensions(certDer: Buffer): Map<string, CertificateExtension> {
  const [tbs] = expectConstructed(readTlv(certDer), TAG.SEQUENCE, 'Certificate');
  return findExtensions(expectConstructed(tbs, TAG.SEQUENCE, 'TBSCertificate'));
}

/**
 * RFC 5280 §4.1: extensions are [3] EXPLICIT, after the other TBSCertificate fields, and each
 * is SEQUENCE { extnID, critical BOOLEAN DEFAULT FALSE, extnValue OCTET STRING }.
 */
function findExtensions(fields: Tlv[]): Map<string, CertificateExtension> {
  const out = new Map<string, CertificateExtension>();
  const wrapper = fields.find((t) => t.tag === contextConstructed(3));
  if (!wrapper) return out;
  const [list] = children(wrapper.value);
  for (const ext of expectConstructed(list, TAG.SEQUENCE, 'Extensions')) {
    const [oid, ...rest] = expectConstructed(ext, TAG.SEQUENCE, 'Extension');
    const flag = rest.length === 2 ? rest[0] : undefined;
    const value = rest[rest.length - 1];
    if (
      oid?.tag !== TAG.OID ||
      rest.length > 2 ||
      value?.tag !== TAG.OCTET_STRING ||
      (flag && flag.tag !== TAG.BOOLEAN)
    ) {
      throw new DerError('malformed certificate extension');
    }
    out.set(decodeOid(oid.value), {
      critical: flag !== undefined && flag.value[0] !== 0,
      value: value.value,
    });
  }
  return out;
}

function nameHasAttribute(name: Tlv, oid: string): boolean {
  for (const rdn of expectConstructed(name, TAG.SEQUENCE, 'Name')) {
    for (const atv of expectConstructed(rdn, TAG.SET, 'RelativeDistinguishedName')) {
      const [type] = expectConstructed(atv, TAG.SEQUENCE, 'AttributeTypeAndValue');
      if (type?.tag === TAG.OID && decodeOid(type.value) === oid) return true;
    }
  }
  return false;
}

/** GeneralNames (RFC 5280 §4.2.1.6): dNSName is [2] IA5String, iPAddress is [7] OCTET STRING. */
function parseSubjectAltName(value: Buffer): { dnsNames: string[]; ipAddresses: string[] } {
  const dnsNames: string[] = [];
  const ipAddresses: string[] = [];
  for (const name of expectConstructed(readTlv(value), TAG.SEQUENCE, 'GeneralNames')) {
    if (name.tag === contextPrimitive(2)) dnsNames.push(name.value.toString('latin1'));
    if (name.tag === contextPrimitive(7)) ipAddresses.push(formatIp(name.value));
  }
  return { dnsNames, ipAddresses };
}

function formatIp(bytes: Buffer): string {
  if (bytes.length === 4) return [...bytes].join('.');
  if (bytes.length === 16) {
    const groups: string[] = [];
    for (let i = 0; i < 16; i += 2) groups.push(bytes.readUInt16BE(i).toString(16));
    // The WHATWG URL serializer produces the RFC 5952 canonical form.
    return new URL(`http://[${groups.join(':')}]/`).hostname.slice(1, -1);
  }
  return bytes.toString('hex');
}

/** AuthorityKeyIdentifier ::= SEQUENCE { keyIdentifier [0] IMPLICIT OCTET STRING OPTIONAL, ... } */
function parseAuthorityKeyId(value: Buffer): Buffer | undefined {
  const parts = expectConstructed(readTlv(value), TAG.SEQUENCE, 'AuthorityKeyIdentifier');
  const keyId = parts.find((p) => p.tag === contextPrimitive(0));
  return keyId ? Buffer.from(keyId.value) : undefined;
}

/** Whether the private key is the one the certificate certifies. Never throws. */
export function keyMatchesCertificate(keyPem: string, certPem: string): boolean {
  try {
    return new X509Certificate(certPem).checkPrivateKey(createPrivateKey(keyPem));
  } catch {
    return false;
  }
}

/** Whether the certificate carries the public key of this CSR (an order finalized with it). */
export function certificateMatchesCsr(certPem: string, csrPem: string): boolean {
  try {
    return new X509Certificate(certPem).publicKey.equals(csrPublicKey(csrPem));
  } catch {
    return false;
  }
}

/**
 * Verifies leaf → chain → one of the roots: each certificate is signed by the next and
 * names it as issuer, every issuer is a CA, and all are valid at `at`. Throws an
 * IntegrityError naming the first failing link. Not a full RFC 5280 §6 path validation
 * (no name constraints or policies): it proves the bundle we store is the one the CA issued.
 */
export function verifyChain(
  leafPem: string,
  chainPems: readonly string[],
  rootPems: readonly string[],
  at: Date,
): void {
  const path = [leafPem, ...chainPems].map((p) => new X509Certificate(p));
  const roots = rootPems.map((p) => new X509Certificate(p));
  const fix = 'fetch the certificate again from the CA; do not install this bundle';

  for (const [index, cert] of path.entries()) {
    const from = new Date(cert.validFrom);
    const to = new Date(cert.validTo);
    if (at < from || at > to) {
      throw new IntegrityError(
        `certificate ${index} (${cert.subject || 'no subject'}) is not valid at ${at.toISOString()} (valid ${from.toISOString()} to ${to.toISOString()})`,
        fix,
      );
    }
  }
  for (let i = 0; i + 1 < path.length; i++) {
    const cert = path[i]!;
    const issuer = path[i + 1]!;
    if (!issuer.ca || !cert.checkIssued(issuer) || !cert.verify(issuer.publicKey)) {
      throw new IntegrityError(`certificate ${i} is not signed by certificate ${i + 1} of the chain`, fix);
    }
  }
  const top = path[path.length - 1]!;
  const anchored = roots.some(
    (root) =>
      root.fingerprint256 === top.fingerprint256 ||
      (root.ca &&
        top.checkIssued(root) &&
        top.verify(root.publicKey) &&
        at >= new Date(root.validFrom) &&
        at <= new Date(root.validTo)),
  );
  if (!anchored)
    throw new IntegrityError(`the chain does not lead to a trusted root (top issuer: ${top.issuer})`, fix);
}

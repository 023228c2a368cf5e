import { type KeyObject, createPublicKey, verify } from 'node:crypto';
import { ValidationError } from '../model/errors.js';
import { DerError, TAG, children, decodeOid, expectConstructed, readTlv } from '../pki/der.js';

/**
 * An agent's certificate request, checked before the CA signs anything (RFC 2986): the
 * request must be one PKCS#10 CSR of bounded size, signed by the key it carries (proof the
 * server holds the key), for a key type Roles Anywhere accepts and we allow, naming exactly
 * the agent in its subject CN. Only the public key and the name are taken from it: every
 * other field of the certificate is the CA's choice.
 */
export const CSR_MAX_BYTES = 8 * 1024;

export interface CheckedCsr {
  /** SubjectPublicKeyInfo DER. */
  publicKey: Buffer;
  commonName: string | undefined;
  keyType: string;
}

/** What a server may enrol with: EC P-256 and P-384, RSA of 2048 to 4096 bits. */
export const ALLOWED_AGENT_KEYS = ['ecdsa-p256', 'ecdsa-p384', 'rsa2048', 'rsa3072', 'rsa4096'] as const;

const SIGNATURES: Record<string, string> = {
  '1.2.840.10045.4.3.2': 'sha256', // ecdsa-with-SHA256
  '1.2.840.10045.4.3.3': 'sha384', // ecdsa-with-SHA384
  '1.2.840.113549.1.1.11': 'sha256', // sha256WithRSAEncryption
  '1.2.840.113549.1.1.12': 'sha384', // sha384WithRSAEncryption
};

const FIX =
  'let certkeeper agent join make the request (it makes an EC P-256 key and a CSR whose CN is the agent name)';

export function checkAgentCsr(pem: unknown, agent: string, field = 'csr'): CheckedCsr {
  if (typeof pem !== 'string' || pem.length === 0) throw new ValidationError(field, 'is missing', FIX);
  if (Buffer.byteLength(pem) > CSR_MAX_BYTES) {
    throw new ValidationError(field, `is ${Buffer.byteLength(pem)} bytes, more than ${CSR_MAX_BYTES}`, FIX);
  }
  const blocks = [
    ...pem.matchAll(/-----BEGIN CERTIFICATE REQUEST-----([\s\S]*?)-----END CERTIFICATE REQUEST-----/g),
  ];
  if (blocks.length !== 1) {
    throw new ValidationError(field, `holds ${blocks.length} PEM CERTIFICATE REQUEST blocks, not one`, FIX);
  }
  let parsed: {
    info: Buffer;
    algorithm: string;
    signature: Buffer;
    spki: Buffer;
    commonName: string | undefined;
  };
  try {
    parsed = parse(Buffer.from(blocks[0]![1]!.replace(/\s+/g, ''), 'base64'));
  } catch (err) {
    throw new ValidationError(
      field,
      `is not a PKCS#10 request (${err instanceof DerError ? err.message : 'malformed'})`,
      FIX,
    );
  }
  const digest = SIGNATURES[parsed.algorithm];
  if (!digest) {
    throw new ValidationError(
      field,
      `is signed with ${parsed.algorithm}, not ECDSA or RSA with SHA-256/384`,
      FIX,
    );
  }
  let key: KeyObject;
  try {
    key = createPublicKey({ key: parsed.spki, format: 'der', type: 'spki' });
  } catch {
    throw new ValidationError(field, 'carries a public key that cannot be read', FIX);
  }
  const keyType = describeKey(key);
  if (!(ALLOWED_AGENT_KEYS as readonly string[]).includes(keyType)) {
    throw new ValidationError(
      field,
      `carries a ${keyType} key; agents may use ${ALLOWED_AGENT_KEYS.join(', ')}`,
      FIX,
    );
  }
  if (!verify(digest, parsed.info, key, parsed.signature)) {
    throw new ValidationError(field, 'is not signed by the key it carries', FIX);
  }
  if (parsed.commonName !== agent) {
    throw new ValidationError(
      field,
      `names ${parsed.commonName === undefined ? 'no CN' : `CN=${JSON.stringify(parsed.commonName)}`}, not CN=${agent}`,
      `make the request for this agent's own name (${agent})`,
    );
  }
  return { publicKey: parsed.spki, commonName: parsed.commonName, keyType };
}

function parse(der: Buffer) {
  const outer = readTlv(der);
  if (outer.raw.length !== der.length) throw new DerError('trailing bytes after the request');
  const [info, algorithm, signature] = expectConstructed(outer, TAG.SEQUENCE, 'CertificationRequest');
  const [, subject, spki] = expectConstructed(info, TAG.SEQUENCE, 'CertificationRequestInfo');
  const [oid] = expectConstructed(algorithm, TAG.SEQUENCE, 'AlgorithmIdentifier');
  if (!oid || oid.tag !== TAG.OID || !signature || signature.tag !== TAG.BIT_STRING || !spki) {
    throw new DerError('malformed request');
  }
  return {
    info: info!.raw,
    algorithm: decodeOid(oid.value),
    // BIT STRING: the first octet counts unused bits (0 for a signature).
    signature: signature.value.subarray(1),
    spki: spki.raw,
    commonName: commonNameOf(subject),
  };
}

/** The last CN of a Name, if any (a UTF8String, PrintableString or IA5String). */
function commonNameOf(name: ReturnType<typeof readTlv> | undefined): string | undefined {
  let cn: string | undefined;
  for (const rdn of expectConstructed(name, TAG.SEQUENCE, 'Name')) {
    for (const attribute of children(rdn.value)) {
      const [type, value] = children(attribute.value);
      if (type?.tag === TAG.OID && decodeOid(type.value) === '2.5.4.3' && value)
        cn = value.value.toString('utf8');
    }
  }
  return cn;
}

function describeKey(key: KeyObject): string {
  const details = key.asymmetricKeyDetails;
  if (key.asymmetricKeyType === 'ec') {
    const curve = { prime256v1: 'p256', secp384r1: 'p384', secp521r1: 'p521' }[details?.namedCurve ?? ''];
    return curve ? `ecdsa-${curve}` : `EC (${details?.namedCurve ?? 'unknown curve'})`;
  }
  if (key.asymmetricKeyType === 'rsa') return `rsa${details?.modulusLength ?? ''}`;
  return key.asymmetricKeyType ?? 'unknown';
}

import { IntegrityError } from '../model/errors.js';

const BLOCK = /-----BEGIN ([A-Z0-9 ]+)-----([\s\S]*?)-----END \1-----/g;

/** Every PEM block of the given label, each normalised to end with one newline. */
export function pemBlocks(text: string, label: string): string[] {
  const out: string[] = [];
  for (const m of text.matchAll(BLOCK)) {
    if (m[1] === label) out.push(`${m[0]}\n`);
  }
  return out;
}

/** The DER bytes of the first PEM block with this label. */
export function pemToDer(pem: string, label: string): Buffer {
  for (const m of pem.matchAll(BLOCK)) {
    if (m[1] === label) return Buffer.from(m[2]!.replace(/\s+/g, ''), 'base64');
  }
  throw new IntegrityError(
    `no ${label} PEM block found`,
    `pass PEM text that contains "-----BEGIN ${label}-----"`,
  );
}

/**
 * Splits a PEM certificate chain as served by ACME (RFC 8555 §7.4.2: the end-entity
 * certificate first, then the issuers) into the leaf and the rest.
 */
export function splitPemChain(fullchain: string): { leaf: string; chain: string[] } {
  const [leaf, ...chain] = pemBlocks(fullchain, 'CERTIFICATE');
  if (!leaf) {
    throw new IntegrityError(
      'the certificate chain contains no certificate',
      'check that the CA answered with application/pem-certificate-chain',
    );
  }
  return { leaf, chain };
}
